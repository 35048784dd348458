# Benchmarks: ratios measured in one run on this machine (see benchmarks/README.md).
# Not part of `make test` (no test asserts a time); tests/benchmarks runs the scripts on tiny
# sizes (--quick) so they cannot rot.
.PHONY: bench bench-quick bench-gpu bench-step bench-compile test-book-time

bench: $(STAMP) ## time and peak memory: CARAFE vs its floor, FreqFusion vs bilinear, the CPU step, the book
	$(PY) benchmarks/carafe_bench.py
	$(PY) benchmarks/freqfusion_bench.py
	$(PY) benchmarks/step_bench.py
	$(PY) benchmarks/book_time.py

bench-quick: $(STAMP) ## the benchmark scripts on small sizes (a smoke test, seconds)
	$(PY) benchmarks/carafe_bench.py --quick --no-compile --threads 1
	$(PY) benchmarks/freqfusion_bench.py --quick --threads 1
	$(PY) benchmarks/step_bench.py --quick
	$(PY) benchmarks/gpu_bench.py --quick

bench-step: $(STAMP) ## one CPU training step, FreqFusion vs bilinear-add + 3x3 conv (1 thread, ratio)
	$(PY) benchmarks/step_bench.py --out results/step_bench.json

bench-compile: $(STAMP) ## torch.compile of FreqFusion: first-call seconds and eager/compiled ratios (minutes; JSON in results/)
	$(PY) benchmarks/compile_bench.py --out results/compile_bench.json

bench-gpu: $(STAMP) ## on a CUDA GPU: CARAFE backends vs the floor, FreqFusion, a SegFormer-B1 step (JSON in results/)
	$(PY) benchmarks/gpu_bench.py --out results/gpu_bench.json

test-book-time: $(STAMP) ## run every chapter in fast mode, print each one's time and the total
	$(PY) benchmarks/book_time.py
