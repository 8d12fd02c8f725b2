package adminapi

import (
	"context"
	"time"
)

// Node is one fleet server node: GET /api/v1/nodes lists the live nodes
// of a cluster (a single server lists itself).
type Node struct {
	Name    string    `json:"name"`
	Version string    `json:"version"` // build and store schema version
	Started time.Time `json:"started"`
	// Devices is the number of devices connected to the node's broker.
	Devices int64 `json:"devices"`
	// Leases are the store leases the node holds: the background work it
	// runs for the whole cluster (campaigns, telemetry-maintenance).
	Leases []string `json:"leases"`
	// Heartbeat is when the node last reported (a node silent for 5 s is
	// gone from the list).
	Heartbeat time.Time `json:"heartbeat"`
	// MQTT and Enroll are the endpoints the node advertises to devices.
	MQTT   []string `json:"mqtt,omitempty"`
	Enroll string   `json:"enroll,omitempty"`
}

// Nodes lists the live nodes of the fleet, by name.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out []Node
	err := c.get(ctx, "/api/v1/nodes", nil, &out)
	return out, err
}
