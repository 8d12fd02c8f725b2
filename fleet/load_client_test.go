package fleet

// The load test's raw MQTT publisher: one TLS (or plain TCP) connection,
// QoS 1 PUBLISH pipelined up to a window, several packets coalesced in one
// write, PUBACKs matched by packet identifier. Two goroutines per
// publishing connection (a writer and a reader), none per idle connection.

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rawClient is a connected MQTT session.
type rawClient struct {
	conn    net.Conn
	version byte
	id      string
	topic   string
	window  int // in-flight QoS 1 messages: the flag, capped by the server's Receive Maximum
}

// dialRaw connects (TLS when tc is not nil) and completes CONNECT/CONNACK.
func dialRaw(addr string, tc *tls.Config, version byte, clientID, topic string, keepAlive uint16, window int) (*rawClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	// Deadlines against a hung server, not timing checks.
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if tc != nil {
		tconn := tls.Client(conn, tc)
		if err := tconn.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tconn
	}
	if _, err := conn.Write(appendConnect(nil, version, clientID, keepAlive)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	// A small reader: the CONNACK is the only packet before the first
	// PUBLISH, and idle connections should hold no buffers here.
	r := bufio.NewReaderSize(conn, 16)
	h, body, err := readPacket(r, nil, 1024)
	if err == nil && h>>4 != pktConnack {
		err = fmt.Errorf("%w: packet type %d instead of CONNACK", errMQTT, h>>4)
	}
	recvMax := 0
	if err == nil {
		recvMax, err = parseConnack(body, version)
	}
	if err == nil && r.Buffered() > 0 {
		err = fmt.Errorf("%w: %d unexpected bytes after CONNACK", errMQTT, r.Buffered())
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	if recvMax > 0 && recvMax < window {
		window = recvMax
	}
	return &rawClient{conn: conn, version: version, id: clientID, topic: topic, window: window}, nil
}

// pubRun is one publishing phase shared by all its connections.
type pubRun struct {
	values  int
	refill  int         // PUBACKs to wait for before writing again (see publish)
	stop    atomic.Bool // writers stop sending
	closing atomic.Bool // connections are being closed: read errors expected
	sent    atomic.Int64
	acked   atomic.Int64 // PUBACK with success
	refused atomic.Int64 // PUBACK with a failure reason code (MQTT 5)
	ooo     atomic.Int64 // PUBACKs not in publish order
	mu      sync.Mutex
	errs    []string // first few errors, for the log
	nerrs   int
	wg      sync.WaitGroup
}

func (p *pubRun) fail(c *rawClient, format string, args ...any) {
	if p.closing.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nerrs++
	if len(p.errs) < 5 {
		p.errs = append(p.errs, c.id+": "+fmt.Sprintf(format, args...))
	}
}

// inflight is what was sent and not yet answered.
func (p *pubRun) inflight() int64 { return p.sent.Load() - p.acked.Load() - p.refused.Load() }

// payloadSuffix is the telemetry payload after the timestamp: n samples
// (metrics v0..v(n-1)), fleet/telemetry's format.
func payloadSuffix(n int) []byte {
	n = max(1, min(n, 64))
	var b strings.Builder
	b.WriteString(`,"values":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"v%d":1.5`, i)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// publish starts the writer and reader of c.
func (c *rawClient) publish(p *pubRun) {
	credits := make(chan struct{}, c.window)
	for range c.window {
		credits <- struct{}{}
	}
	done := make(chan struct{})
	// The in-flight identifiers in publish order; acked marks those
	// answered out of order, popped once everything before them is.
	var mu sync.Mutex
	ring := make([]uint16, c.window)
	ackedOOO := make([]bool, c.window)
	head, count := 0, 0

	p.wg.Add(2)
	go func() { // reader
		defer p.wg.Done()
		defer close(done)
		r := bufio.NewReaderSize(c.conn, 4096)
		buf := make([]byte, 64)
		for {
			h, body, err := readPacket(r, buf, 1024)
			if err != nil {
				p.fail(c, "read: %v", err)
				return
			}
			switch h >> 4 {
			case pktPuback:
			case pktPingresp:
				continue
			default:
				p.fail(c, "unexpected packet type %d", h>>4)
				return
			}
			id, reason, err := parsePuback(body, c.version)
			if err != nil {
				p.fail(c, "%v", err)
				return
			}
			// A credit returns when its entry leaves the ring (in order),
			// so the ring never holds more than the window.
			mu.Lock()
			found, popped := false, 0
			if count > 0 && ring[head] == id {
				found, popped = true, 1
				head, count = (head+1)%len(ring), count-1
				for count > 0 && ackedOOO[head] {
					ackedOOO[head] = false
					head, count, popped = (head+1)%len(ring), count-1, popped+1
				}
			} else {
				for i := 1; i < count; i++ {
					j := (head + i) % len(ring)
					if ring[j] == id && !ackedOOO[j] {
						ackedOOO[j], found = true, true
						p.ooo.Add(1)
						break
					}
				}
			}
			mu.Unlock()
			if !found {
				p.fail(c, "PUBACK for packet identifier %d, which is not in flight", id)
				return
			}
			if reason >= 0x80 {
				p.refused.Add(1)
				p.fail(c, "PUBACK reason code 0x%02x", reason)
			} else {
				p.acked.Add(1)
			}
			for range popped {
				credits <- struct{}{}
			}
		}
	}()
	go func() { // writer
		defer p.wg.Done()
		w := bufio.NewWriterSize(c.conn, 16<<10)
		suffix := payloadSuffix(p.values)
		payload := make([]byte, 0, 32+len(suffix))
		pkt := make([]byte, 0, 64+len(c.topic)+cap(payload))
		var id uint16
		// Each round sends one message per credit held (PUBACKs returned),
		// coalesced, then flushes: nothing more may be sent. The next round
		// starts once refill credits are back, so that a server answering
		// each PUBLISH in its own segment does not make this side pay one
		// write per message.
		refill := max(1, min(p.refill, c.window))
		held, want := 0, 1
		for {
			for held < want {
				select {
				case <-credits:
					held++
				case <-done:
					return
				}
			}
		more:
			for {
				select {
				case <-credits:
					held++
				default:
					break more
				}
			}
			if p.stop.Load() {
				w.Flush()
				return
			}
			for ; held > 0; held-- {
				if id++; id == 0 {
					id = 1
				}
				mu.Lock()
				ring[(head+count)%len(ring)] = id
				count++
				mu.Unlock()
				payload = append(strconv.AppendInt(append(payload[:0], `{"ts":`...), time.Now().UnixMilli(), 10), suffix...)
				pkt = appendPublish1(pkt[:0], c.version, c.topic, id, payload)
				p.sent.Add(1)
				if _, err := w.Write(pkt); err != nil {
					p.fail(c, "write: %v", err)
					return
				}
			}
			if err := w.Flush(); err != nil {
				p.fail(c, "write: %v", err)
				return
			}
			want = refill
		}
	}()
}

// pubResult is what one publishing phase measured.
type pubResult struct {
	rate                    float64 // acknowledged messages/s during the measured interval
	acked, refused, lost    int64   // over the whole phase, warm-up and drain included
	ooo                     int64
	errs                    int
	firstErrs               []string
	cpu                     []float64 // CPU seconds of each watched process during the interval
	measured                float64   // acknowledged messages during the interval
	window, conns, inflight int
}

// runPublish publishes from every client: warm up, measure acknowledged
// messages and the CPU of pids over d, stop, wait for the acknowledgements
// still owed (up to drain), close the connections.
func runPublish(clients []*rawClient, values, refill int, warm, d, drain time.Duration, pids []int) pubResult {
	p := &pubRun{values: values, refill: refill}
	for _, c := range clients {
		c.publish(p)
	}
	time.Sleep(warm)
	cpu0 := make([]int64, len(pids))
	for i, pid := range pids {
		cpu0[i] = cpuTicksOf(pid)
	}
	a0, t0 := p.acked.Load(), time.Now()
	time.Sleep(d)
	a1, el := p.acked.Load(), time.Since(t0)
	res := pubResult{rate: float64(a1-a0) / el.Seconds(), measured: float64(a1 - a0), conns: len(clients)}
	for i, pid := range pids {
		res.cpu = append(res.cpu, ticksSec(cpuTicksOf(pid)-cpu0[i]))
	}
	p.stop.Store(true)
	for end := time.Now().Add(drain); p.inflight() > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	p.closing.Store(true)
	for _, c := range clients {
		c.conn.Close()
	}
	p.wg.Wait()
	res.acked, res.refused, res.ooo = p.acked.Load(), p.refused.Load(), p.ooo.Load()
	res.lost = p.inflight()
	res.errs, res.firstErrs = p.nerrs, p.errs
	if len(clients) > 0 {
		res.window = clients[0].window
		res.inflight = len(clients) * clients[0].window
	}
	return res
}
