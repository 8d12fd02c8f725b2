// Command brokerbench measures the two embeddable MQTT broker candidates of
// the fleet server, mochi-mqtt and nats-server's MQTT listener, in the same
// harness: server RSS per idle mutual-TLS connection, and QoS 1 publish
// throughput (one message in flight per connection, no subscriber). Each
// broker runs in a child process (this binary re-executed); the load comes
// from this process through a minimal MQTT 3.1.1 client (both brokers speak
// 3.1.1; only mochi speaks 5). It is a separate module so that nats-server
// is not a dependency of Rampart itself; it must never be imported.
//
//	cd fleet/brokerbench && go run . -conns 2000 -publishers 100 -duration 5s
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

type pki struct {
	CACert, ServerCert, ServerKey, ClientCert, ClientKey []byte
}

func newPKI() pki {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(cn string, eku x509.ExtKeyUsage, ip bool) ([]byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		t := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{eku}, KeyUsage: x509.KeyUsageDigitalSignature}
		if ip {
			t.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, _ := x509.CreateCertificate(rand.Reader, t, ca, &k.PublicKey, caKey)
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		return der, kd
	}
	p := pki{CACert: caDER}
	p.ServerCert, p.ServerKey = leaf("server", x509.ExtKeyUsageServerAuth, true)
	p.ClientCert, p.ClientKey = leaf("client", x509.ExtKeyUsageClientAuth, false)
	return p
}

func (p pki) pool() *x509.CertPool {
	c, _ := x509.ParseCertificate(p.CACert)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}

func pair(cert, key []byte) tls.Certificate {
	k, _ := x509.ParsePKCS8PrivateKey(key)
	return tls.Certificate{Certificate: [][]byte{cert}, PrivateKey: k}
}

func freePort() int {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serve runs one broker until killed, printing its address.
func serve(kind string, p pki) {
	tc := &tls.Config{Certificates: []tls.Certificate{pair(p.ServerCert, p.ServerKey)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool(), MinVersion: tls.VersionTLS12}
	port := freePort()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	switch kind {
	case "mochi":
		caps := mqtt.NewDefaultServerCapabilities()
		caps.MaximumClientWritesPending = 64
		s := mqtt.New(&mqtt.Options{Capabilities: caps, ClientNetWriteBufferSize: 2048, ClientNetReadBufferSize: 2048,
			Logger: slog.New(slog.DiscardHandler), SysTopicResendInterval: 3600})
		s.AddHook(new(auth.AllowHook), nil)
		if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr, TLSConfig: tc})); err != nil {
			panic(err)
		}
		if err := s.Serve(); err != nil {
			panic(err)
		}
	case "nats":
		dir, _ := os.MkdirTemp("", "natsbench")
		o := &natsserver.Options{Host: "127.0.0.1", Port: -1, ServerName: "bench", JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
		o.MQTT.Host, o.MQTT.Port, o.MQTT.TLSConfig, o.MQTT.TLSTimeout = "127.0.0.1", port, tc, 5
		s, err := natsserver.NewServer(o)
		if err != nil {
			panic(err)
		}
		go s.Start()
		if !s.ReadyForConnections(20 * time.Second) {
			panic("nats not ready")
		}
	default:
		panic("unknown broker " + kind)
	}
	fmt.Println(addr)
	select {}
}

// A minimal MQTT 3.1.1 client: CONNECT, QoS 1 PUBLISH, wait for PUBACK.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func appendLen(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func (c *client) readPacket() (byte, []byte, error) {
	h, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for {
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		mul *= 128
	}
	body := make([]byte, n)
	_, err = io.ReadFull(c.r, body)
	return h, body, err
}

func dial(addr string, p pki, id string) (*client, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.pool(), Certificates: []tls.Certificate{pair(p.ClientCert, p.ClientKey)}, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, err
	}
	var vh []byte
	vh = appendStr(vh, "MQTT")
	vh = append(vh, 4, 0x02, 0x01, 0x2c) // level 4, clean session, keepalive 300 s
	vh = appendStr(vh, id)
	pkt := appendLen([]byte{0x10}, len(vh))
	if _, err := conn.Write(append(pkt, vh...)); err != nil {
		return nil, err
	}
	c := &client{c: conn, r: bufio.NewReaderSize(conn, 512)}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	h, body, err := c.readPacket()
	conn.SetReadDeadline(time.Time{})
	if err != nil || h != 0x20 || len(body) != 2 || body[1] != 0 {
		conn.Close()
		return nil, fmt.Errorf("connack %x %x %v", h, body, err)
	}
	return c, nil
}

func (c *client) publish(topic string, pid uint16, payload []byte) error {
	var vh []byte
	vh = appendStr(vh, topic)
	vh = binary.BigEndian.AppendUint16(vh, pid)
	vh = append(vh, payload...)
	if _, err := c.c.Write(append(appendLen([]byte{0x32}, len(vh)), vh...)); err != nil {
		return err
	}
	for {
		h, body, err := c.readPacket()
		if err != nil {
			return err
		}
		if h == 0x40 && len(body) == 2 && binary.BigEndian.Uint16(body) == pid {
			return nil
		}
	}
}

func rssKB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	return 0
}

func measure(kind string, p pki, conns, pubs int, d time.Duration) (kbPerConn, msgsPerSec float64, err error) {
	pj, _ := json.Marshal(p)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "BROKERBENCH_SERVE="+kind, "BROKERBENCH_PKI="+string(pj))
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("%s did not start: %v", kind, err)
	}
	addr := strings.TrimSpace(line)
	time.Sleep(500 * time.Millisecond)
	rss0 := rssKB(cmd.Process.Pid)
	clients := make([]*client, conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	var derr atomic.Value
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= conns {
					return
				}
				c, err := dial(addr, p, fmt.Sprintf("bench-%d", i))
				if err != nil {
					derr.Store(err)
					return
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	if e, ok := derr.Load().(error); ok {
		return 0, 0, e
	}
	time.Sleep(2 * time.Second)
	rss1 := rssKB(cmd.Process.Pid)
	var count atomic.Int64
	stop := time.Now().Add(d)
	start := time.Now()
	for i := range min(pubs, conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i]
			payload := []byte(`{"values":{"v":1.5}}`)
			for pid := uint16(1); time.Now().Before(stop); pid++ {
				if pid == 0 {
					pid = 1
				}
				if err := c.publish(fmt.Sprintf("devices/bench-%d/telemetry", i), pid, payload); err != nil {
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	for _, c := range clients {
		c.c.Close()
	}
	return float64(rss1-rss0) / float64(conns), float64(count.Load()) / el.Seconds(), nil
}

func main() {
	if kind := os.Getenv("BROKERBENCH_SERVE"); kind != "" {
		var p pki
		json.Unmarshal([]byte(os.Getenv("BROKERBENCH_PKI")), &p)
		serve(kind, p)
		return
	}
	conns := flag.Int("conns", 2000, "idle mutual-TLS connections")
	pubs := flag.Int("publishers", 100, "connections publishing QoS 1 (one message in flight each)")
	d := flag.Duration("duration", 5*time.Second, "publish measurement time")
	flag.Parse()
	p := newPKI()
	for _, kind := range []string{"mochi", "nats"} {
		kb, rate, err := measure(kind, p, *conns, *pubs, *d)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", kind, err)
			os.Exit(1)
		}
		fmt.Printf("%-6s %6d idle mTLS connections: %5.1f KB RSS each; QoS 1 publish, %d publishers: %8.0f msgs/s\n", kind, *conns, kb, *pubs, rate)
	}
}
