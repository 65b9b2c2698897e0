"""`tidal replay`: a request trace sent live through the router to a running service, every
request's latency and status and the replicas over time recorded, reported as the simulator
reports (`tidal.sim.report`). `bodies` builds the requests (pure), `loop` sends and samples."""
