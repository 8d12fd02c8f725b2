// Package deviceproto is the protocol between a Rampart device and its
// fleet: the contract both the device agent and the fleet server implement,
// versioned by its documents (docs/fleet-enrollment.md for enrollment,
// docs/agent.md for everything over MQTT). Each message has its type, its
// size limit and its parser here, once:
//
//   - enrollment (enroll.go, enrollclient.go, refusal.go, certsonly.go): the
//     paths and headers, the request and its parser, the token Binding, the
//     refusal codes with their HTTP statuses, the certs-only reply, and
//     Client, the device's side;
//   - jobs (job.go, jobsig.go): Job, its signed COSE_Sign1 envelope, the
//     fleet's JobSigner, the device's VerifyJob against a JobPolicy, and the
//     role marks of the job signer's certificate (which fleet/ca issues);
//   - Progress and Outcome (progress.go, outcome.go), the outcome with its
//     explicit Result: ok, failed or reverted;
//   - the MQTT topics (topics.go) and the telemetry message
//     (telemetry.go);
//   - the limits: MaxImageSize, MaxJobSize, MaxOutcomeSize, ...
//
// It must never hold server or device state (which nonces were issued or
// used is the server's; which job was taken last, and so a replay, is the
// device's), never import either side (agent, fleet/*, spe/*, psa and its
// client, ipc): a device links it without the fleet's CA, store or database
// drivers, and the fleet without the MQTT client or the PSA client. And it
// must never hand out as trusted what it parsed without the checks it
// documents: a parsed Request's token is unverified, a decoded SignedJob is
// untrusted until Verify, and an Outcome is the device's claim until the
// fleet has checked its token.
package deviceproto
