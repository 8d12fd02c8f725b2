package demo

// notBuilt names the stages of the full quickstart whose parts have not
// landed yet, so the summary says plainly what the demo does not show.
var notBuilt = []string{}

// Steps is the demo script, in order.
func Steps() []Step {
	var steps []Step
	steps = append(steps, imageSteps()...)
	steps = append(steps, fleetSteps()...)
	steps = append(steps, speSteps()...)
	return steps
}
