package demo

// notBuilt names the stages of the full quickstart whose parts have not
// landed yet, so the summary says plainly what the demo does not show.
var notBuilt = []string{}

// Steps is the demo script, in the order of a device's life: firmware is
// signed, one device is made and provisioned at the factory and proves what
// it runs by attestation, then a fleet of devices is onboarded, updated and
// finally decommissioned; last, the project is self-assessed for PSA
// Certified Level 1 from what the demo showed.
func Steps() []Step {
	var steps []Step
	steps = append(steps, imageSteps()...)
	steps = append(steps, speSteps()...)
	steps = append(steps, fleetSteps()...)
	steps = append(steps, certifySteps()...)
	return steps
}
