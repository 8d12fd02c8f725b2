package demo

// notBuilt names the stages of the full quickstart whose parts have not
// landed yet, so the summary says plainly what the demo does not show.
var notBuilt = []string{"fleet onboarding by attestation", "MQTT telemetry", "update campaign", "decommissioning"}

// Steps is the demo script, in order.
func Steps() []Step {
	var steps []Step
	steps = append(steps, imageSteps()...)
	steps = append(steps, speSteps()...)
	return steps
}
