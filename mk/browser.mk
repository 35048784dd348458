# The book in a real browser (tests/browser) and the static site (make html).
.PHONY: test-browser browser-deps html

# Debian's chromium; Playwright drives it directly (no `playwright install`, no download).
browser-deps:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "NOTE: chromium is not installed and cannot be installed here (not root, no sudo):"; \
		echo "      the browser tests will be skipped. Install it with: apt-get install -y chromium"; \
	fi

test-browser: $(STAMP) browser-deps ## open every widget chapter in JupyterLab (headless Chromium), run it, move every widget
	$(PY) -m pytest -q -p no:cacheprovider tests/browser

test: test-browser

html: $(STAMP) ## render the executed book (fast mode) to a static site in build/html
	$(PY) scripts/build_html.py
