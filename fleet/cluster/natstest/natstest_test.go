package natstest

import (
	"testing"
	"time"
)

// TestClusterElectsAndSurvivesLeaderLoss: the three-server cluster the
// fleet's cluster tests run on elects a new meta leader when its leader
// stops, and forms again, with every server current, once it restarts.
func TestClusterElectsAndSurvivesLeaderLoss(t *testing.T) {
	c := Start(t, 3)
	if !c.WaitFormed(30 * time.Second) {
		t.Fatal("the three servers did not form a JetStream cluster within 30s")
	}
	lead := c.WaitMetaLeader(30 * time.Second)
	if lead < 0 {
		t.Fatal("no meta leader within 30s of the cluster forming")
	}
	c.Stop(lead)
	deadline := time.Now().Add(30 * time.Second)
	for i := c.MetaLeader(); i < 0 || i == lead; i = c.MetaLeader() {
		if time.Now().After(deadline) {
			t.Fatalf("after stopping meta leader %d: leader %d", lead, i)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Restart(lead)
	if !c.WaitFormed(30 * time.Second) {
		t.Fatalf("server %d restarted: the cluster did not form again within 30s", lead)
	}
}
