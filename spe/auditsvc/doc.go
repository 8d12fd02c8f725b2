// Package auditsvc puts the tamper-evident audit log (package spe/audit) in
// the SPE as a service: secure partitions append records (time, client,
// event, data) with their kernel-given client IDs, and authorized readers
// retrieve the whole store and the checkpoint public key to verify the chain
// themselves with audit.Verify.
//
// It must never let a non-secure client append (a compromised application
// could otherwise flood or forge history), never let a client that is not
// an authorized reader see the records, and never take a record's client ID
// from the request.
package auditsvc
