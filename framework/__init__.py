"""Physics-free event-processing framework: components, store, scheduler, runner."""
