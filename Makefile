# Everything the project needs is installed from package.json / package-lock.json.
SHELL := /bin/bash
STAMP := node_modules/.clicktrail-installed

.PHONY: install build run test bench clean
install: $(STAMP)
$(STAMP): package.json package-lock.json
	@# not `npm ci`: chdb lists optional per-platform libraries that the registry does not all
	@# carry, which `npm ci` refuses; `npm install` honours package-lock.json and skips them.
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

build: install
	npx tsc -p .
	@chmod +x dist/cli.js

run: build
	node dist/cli.js init --if-empty
	node dist/cli.js serve

test: build
	@# the tests are type-checked too (tap only strips their types)
	npx tsc -p test/tsconfig.json
	npx eslint src test bench scripts dashboard
	@# temporary data on a tmpfs where there is one (scripts/test-tmpdir.sh), removed after
	@dir=$$(scripts/test-tmpdir.sh); echo "test data under $$dir"; rc=0; TMPDIR="$$dir" npx tap || rc=$$?; \
	  case "$$dir" in /dev/shm/clicktrail-test.*) rm -rf "$$dir" ;; esac; exit $$rc

bench: build
	npm run bench:redirect

clean:
	rm -rf dist .tap test-artifacts
