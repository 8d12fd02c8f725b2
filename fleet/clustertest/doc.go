// Package clustertest holds the multi-process tests of a Rampart fleet that
// runs as many `rampart server` nodes: it builds the rampart binary once,
// gives each test a fresh PostgreSQL database (RAMPART_TEST_POSTGRES) and a
// three-node NATS cluster with JetStream started in the test process, runs
// simulated devices (package sim, the real agent and SPE) against the nodes,
// kills and restarts nodes, and checks what the devices were promised
// against the store and the admin API. It also holds the scale-out
// benchmark (-cluster.bench). Everything is in its test files: the package
// itself links nothing and must never be imported by a product binary.
package clustertest
