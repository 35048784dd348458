"""ipywidgets explorers built on :mod:`freqfusion_edu.viz`; wiring is unit-tested by setting values."""
