# Benchmarks: ratios measured in one run on this machine (see benchmarks/README.md).
# Not part of `make test` (no test asserts a time).
.PHONY: bench bench-quick test-book-time

bench: $(STAMP) ## time and peak memory: CARAFE vs its floor, FreqFusion vs bilinear, the book
	$(PY) benchmarks/carafe_bench.py
	$(PY) benchmarks/freqfusion_bench.py
	$(PY) benchmarks/book_time.py

bench-quick: $(STAMP) ## the benchmark scripts on small sizes (a smoke test, seconds)
	$(PY) benchmarks/carafe_bench.py --quick --no-compile --threads 1
	$(PY) benchmarks/freqfusion_bench.py --quick --threads 1

test-book-time: $(STAMP) ## run every chapter in fast mode, print each one's time and the total
	$(PY) benchmarks/book_time.py
