package broker

import (
	"fmt"
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

// The ACL (docs/fleet-server.md, "Broker ACL"). A device, identified by
// its certificate's common name <id>, may
//
//   - subscribe to filters under devices/<id>/ (wildcards only after that
//     prefix; no $SYS, no shared subscriptions);
//   - publish under devices/<id>/, except devices/<id>/jobs and below,
//     which only the server publishes (a device overwriting its retained
//     job could cancel or forge its own update);
//   - retain only on devices/<id>/updates (its update outcome, one
//     message, at most Config.MaxRetainedBytes);
//
// and every message, its Will included, must satisfy the same rules,
// with MQTT 5 properties bounded (user properties, correlation data,
// content type) and a response topic it could publish to itself.
//
// These functions run for every message: no allocation unless refusing.

// ownRest returns what follows devices/<id>/ in topic (a name or a
// filter), if that is not empty.
func ownRest(id, topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, deviceproto.TopicPrefix)
	if !ok {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest, id)
	if !ok || len(rest) < 2 || rest[0] != '/' {
		return "", false
	}
	return rest[1:], true
}

// allowed reports whether topic (a name or a filter) lies under the
// client's own prefix, without wildcards that could reach beyond it: what
// a device may subscribe to, and receive.
func allowed(id, topic string) bool {
	_, ok := ownRest(id, topic)
	return ok
}

// serverOwned reports whether the part of a device's topic after its
// prefix is one only the server publishes to.
func serverOwned(rest string) bool {
	n := len(deviceproto.LevelJobs)
	return strings.HasPrefix(rest, deviceproto.LevelJobs) && (len(rest) == n || rest[n] == '/')
}

// canPublish reports whether device id may publish to topic. Wildcards
// in topic names are refused by mochi before the hooks for PUBLISH, and
// by validName for Will and response topics.
func canPublish(id, topic string) bool {
	rest, ok := ownRest(id, topic)
	return ok && !serverOwned(rest)
}

// canRetain reports whether device id may retain a message on topic.
func canRetain(id, topic string) bool {
	rest, ok := ownRest(id, topic)
	return ok && rest == deviceproto.LevelUpdates
}

// validName reports whether t can be a topic name: not empty, no
// wildcard, no NUL [MQTT-1.5.4-2] [MQTT-3.3.2-2].
func validName(t string) bool { return t != "" && !strings.ContainsAny(t, "+#\x00") }

// validDeviceID reports whether a certificate's common name can be a
// device id in topics: a wildcard, a level separator or a leading $ would
// let the id's own prefix reach other topics.
func validDeviceID(id string) bool {
	return id != "" && len(id) <= 128 && id[0] != '$' && !strings.ContainsAny(id, "/+#\x00")
}

// limits bound what one message, Will or CONNECT may carry.
type limits struct {
	retainedBytes int // largest retained payload
	willBytes     int // largest Will payload (kept in memory for the whole connection)
	userProps     int // user properties a packet may carry
	userPropBytes int // their keys and values together
	propBytes     int // correlation data, content type
}

var defaultLimits = limits{retainedBytes: deviceproto.MaxOutcomeSize, willBytes: 4 << 10, userProps: 16, userPropBytes: 1 << 10, propBytes: 256}

// refusal is why a packet was refused: the MQTT 5 reason code and the
// detail the audit log records.
type refusal struct {
	kind   string // which rule: bursts of refusals are counted per kind
	code   packets.Code
	detail string
}

func refuse(kind string, code packets.Code, format string, args ...any) *refusal {
	return &refusal{kind: kind, code: code, detail: fmt.Sprintf(format, args...)}
}

// checkMessage applies the ACL to a message device id sends: a PUBLISH or
// its Will. size is the payload's length; p its properties.
func (l *limits) checkMessage(id, topic string, retain bool, size int, p *packets.Properties) *refusal {
	if !canPublish(id, topic) {
		return refuse("topic", packets.ErrNotAuthorized, "topic %s is not one device %s may publish to", quoteTopic(topic), id)
	}
	if retain {
		if !canRetain(id, topic) {
			return refuse("retain", packets.ErrNotAuthorized, "retained message on %s: a device may retain only on %s", quoteTopic(topic), deviceproto.StatusTopic(id))
		}
		if size > l.retainedBytes {
			return refuse("retained-size", packets.ErrQuotaExceeded, "retained message of %d bytes: at most %d", size, l.retainedBytes)
		}
	}
	return l.checkProps(id, p)
}

// checkProps bounds the MQTT 5 properties of a PUBLISH, Will or CONNECT.
func (l *limits) checkProps(id string, p *packets.Properties) *refusal {
	if len(p.User) > 0 {
		n := 0
		for _, u := range p.User {
			n += len(u.Key) + len(u.Val)
		}
		if len(p.User) > l.userProps || n > l.userPropBytes {
			return refuse("properties", packets.ErrQuotaExceeded, "%d user properties of %d bytes: at most %d of %d bytes", len(p.User), n, l.userProps, l.userPropBytes)
		}
	}
	if p.ResponseTopic != "" && (!validName(p.ResponseTopic) || !canPublish(id, p.ResponseTopic)) {
		return refuse("response-topic", packets.ErrNotAuthorized, "response topic %s is not one device %s may publish to", quoteTopic(p.ResponseTopic), id)
	}
	if len(p.CorrelationData) > l.propBytes || len(p.ContentType) > l.propBytes {
		return refuse("properties", packets.ErrQuotaExceeded, "correlation data of %d bytes or content type of %d: at most %d", len(p.CorrelationData), len(p.ContentType), l.propBytes)
	}
	return nil
}

// checkConnect applies the ACL to a CONNECT from device id: its
// properties and its Will, which mochi publishes without any ACL hook
// (docs/fleet-server.md).
func (l *limits) checkConnect(id string, pk *packets.Packet) *refusal {
	if pk.Properties.AuthenticationMethod != "" {
		return refuse("auth-method", packets.ErrBadAuthenticationMethod, "authentication method %s: devices authenticate with their certificate only", quoteTopic(pk.Properties.AuthenticationMethod))
	}
	if r := l.checkProps(id, &pk.Properties); r != nil {
		return r
	}
	if !pk.Connect.WillFlag {
		return nil
	}
	c := &pk.Connect
	if !validName(c.WillTopic) {
		return refuse("will-topic", packets.ErrTopicNameInvalid, "will topic %s is not a valid topic name", quoteTopic(c.WillTopic))
	}
	if len(c.WillPayload) > l.willBytes {
		return refuse("will-size", packets.ErrQuotaExceeded, "will message of %d bytes: at most %d", len(c.WillPayload), l.willBytes)
	}
	if r := l.checkMessage(id, c.WillTopic, c.WillRetain, len(c.WillPayload), &c.WillProperties); r != nil {
		r.kind, r.detail = "will-"+r.kind, "will: "+r.detail
		return r
	}
	return nil
}
