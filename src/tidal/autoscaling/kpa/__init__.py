"""Knative's Pod Autoscaler, decision for decision (reference: ../shared/reference/kpa.md).

PURE: every function takes its inputs and an injected `now` (int nanoseconds since the Unix
epoch) and returns values; state (bucket windows, panic mode, the scale-down-delay window) is
passed in and returned. Modules:

- `gotime`, `golang`: Go's time arithmetic, duration syntax, `strconv` parsing, `%v` printing;
- `config`: the `config-autoscaler` keys → `Config`, with Knative's defaults and messages;
- `annotations`: `autoscaling.knative.dev/*` keys (new and legacy spellings), readers, validation;
- `podautoscaler`: the PodAutoscaler as the decisions read it;
- `decider`: target/total values, windows, initial scale → `DeciderSpec`;
- `buckets`, `maxwindow`, `collector`: the 1 s bucketed averages and the sliding maximum;
- `autoscaler`: the Scale decision every 2 s (panic mode, rates, EBC, scale-down delay);
- `scaler`: bounds and scale-to-zero timing → the replicas to write;
- `status`: DesiredScale/ActualScale/Active, the router-in-path mode;
- `columns`: `get kpa` columns.
"""
