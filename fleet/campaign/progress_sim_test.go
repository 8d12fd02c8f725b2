package campaign_test

import (
	"context"
	"testing"
	"time"

	"rampart/agent"
	"rampart/fleet/campaign"
)

// TestAgentReportsProgress: the real agent's progress message travels
// through the broker's OnStatus hook to the engine: when the agent has
// staged the image the campaign shows the device installing; the device
// then reboots and is verified only from its attested outcome.
func TestAgentReportsProgress(t *testing.T) {
	staged := make(chan struct{}, 1)
	release := make(chan struct{})
	hooks := &agent.Hooks{AfterPhase: func(p agent.Phase) error {
		if p == agent.PhaseStaged {
			staged <- struct{}{}
			<-release
		}
		return nil
	}}
	r := newRig(t, 1, devOpts{hooks: hooks})
	if _, err := r.engine().Create(context.Background(), campaign.Spec{ID: "prog", Release: r.release,
		Phases: []campaign.Phase{{Percent: 100}}}, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-staged:
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not stage the image")
	}
	s, err := r.engine().Status("prog", true)
	if err != nil {
		t.Fatal(err)
	}
	// The agent publishes "installing" (QoS 1, acknowledged after the
	// engine took it) before it hands the image to the SPE.
	if st := s.Devices[0].Status; st != campaign.Installing {
		close(release)
		t.Fatalf("device staged the image while the campaign shows %s, want installing", st)
	}
	close(release)
	s = r.waitState(t, "prog", 60*time.Second, campaign.Completed, campaign.Paused)
	if s.State != campaign.Completed || s.Counts[campaign.Verified] != 1 {
		t.Fatalf("campaign %s (%s) %v, want 1 verified", s.State, s.Reason, s.Counts)
	}
}
