package deviceproto

// A device's MQTT topics (docs/agent.md, "Topics"; the broker's ACL in
// docs/fleet-server.md, "Broker ACL and quotas"). Every topic of device
// <id> is devices/<id>/<level>: the device may publish and subscribe only
// under its own prefix, may not publish on its jobs topic, which only the
// fleet does, and may retain a message only on its updates topic.

// TopicPrefix is the root of every device's topics: devices/<id>/...
const TopicPrefix = "devices/"

// The last level of each of a device's topics.
const (
	LevelTelemetry = "telemetry"
	LevelJobs      = "jobs"
	LevelUpdates   = "updates"
	LevelProgress  = "progress"
)

// DeviceTopic is device deviceID's topic at level (devices/<id>/<level>).
func DeviceTopic(deviceID, level string) string { return TopicPrefix + deviceID + "/" + level }

// TelemetryTopic is where a device publishes telemetry (Telemetry, QoS 1:
// acknowledged means stored).
func TelemetryTopic(deviceID string) string { return DeviceTopic(deviceID, LevelTelemetry) }

// JobsTopic is where the fleet publishes a device's firmware-update job
// (a signed job message, retained, QoS 1): the device subscribes to it.
func JobsTopic(deviceID string) string { return DeviceTopic(deviceID, LevelJobs) }

// StatusTopic is where a device reports the outcome of its latest job
// (Outcome, retained, QoS 1): its updates topic, the only one on which a
// device may retain a message.
func StatusTopic(deviceID string) string { return DeviceTopic(deviceID, LevelUpdates) }

// ProgressTopic is where a device reports how far its current job has got,
// between the download and the outcome (Progress, QoS 1, not retained).
func ProgressTopic(deviceID string) string { return DeviceTopic(deviceID, LevelProgress) }
