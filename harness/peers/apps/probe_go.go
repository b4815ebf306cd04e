// The probe-app contract (README "The probe-app contract"; exact bytes as in
// harness/probe/probe_contract.cpp) over Go net/http/fcgi. Usage: probe_go tcp 127.0.0.1:P |
// probe_go unix /path. Every piece is flushed (http.Flusher).
// net/http/fcgi turns the standard CGI params into the Request and hides only the others in
// fcgi.ProcessEnv, so the listing rebuilds the standard ones from the Request.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func params(r *http.Request) map[string]string {
	p := fcgi.ProcessEnv(r)
	p["REQUEST_METHOD"] = r.Method
	p["REQUEST_URI"] = r.RequestURI
	p["QUERY_STRING"] = r.URL.RawQuery
	p["SERVER_PROTOCOL"] = r.Proto
	if r.ContentLength >= 0 && r.Header.Get("Content-Length") != "" {
		p["CONTENT_LENGTH"] = strconv.FormatInt(r.ContentLength, 10)
	}
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		p["REMOTE_ADDR"], p["REMOTE_PORT"] = host, port
	}
	for name, values := range r.Header {
		key := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if key == "CONTENT_TYPE" || key == "CONTENT_LENGTH" {
			p[key] = values[0]
			continue
		}
		p["HTTP_"+key] = strings.Join(values, ", ")
	}
	if r.Host != "" {
		p["HTTP_HOST"] = r.Host
	}
	return p
}

func handle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	num := func(k string) int { n, _ := strconv.Atoi(q.Get(k)); return n }
	status := 200
	if q.Has("status") {
		status = num("status")
	}
	var stdin []byte
	if !q.Has("size") { // echo and the listing read the body
		stdin, _ = io.ReadAll(r.Body)
	}
	if ms := num("first_byte_ms"); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if n := num("stderr"); n > 0 { // net/http/fcgi has no FCGI_STDERR: this goes to the log
		os.Stderr.WriteString(strings.Repeat("E", n))
	}
	var total, piece int
	var bodyAt func(off, n int) []byte
	if q.Has("size") {
		total = num("size")
		piece = num("chunk")
		if piece == 0 {
			piece = 65536
		}
		block := []byte(strings.Repeat("0123456789abcdef", piece/16+2))
		bodyAt = func(off, n int) []byte { return block[off%16 : off%16+n] }
	} else {
		var body []byte
		if num("echo") == 1 {
			body = stdin
		} else {
			p := params(r)
			keys := make([]string, 0, len(p))
			for k := range p {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				b.WriteString(k + "=" + p[k] + "\n")
			}
			sum := sha256.Sum256(stdin)
			fmt.Fprintf(&b, "STDIN-BYTES=%d\nSTDIN-SHA256=%s\n", len(stdin), hex.EncodeToString(sum[:]))
			body = []byte(b.String())
		}
		total = len(body)
		piece = num("chunk")
		if piece == 0 {
			piece = total
			if piece == 0 {
				piece = 1
			}
		}
		bodyAt = func(off, n int) []byte { return body[off : off+n] }
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status) // "Status: NNN <reason>"
	w.(http.Flusher).Flush()
	delay := time.Duration(num("delay_ms")) * time.Millisecond
	for off := 0; off < total; off += piece {
		if off > 0 && delay > 0 {
			time.Sleep(delay)
		}
		n := piece
		if total-off < n {
			n = total - off
		}
		w.Write(bodyAt(off, n))
		w.(http.Flusher).Flush()
	}
}

func main() {
	ln, err := net.Listen(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	go func() { <-c; ln.Close(); os.Exit(0) }() // closing a unix listener unlinks its file
	fcgi.Serve(ln, http.HandlerFunc(handle))
}
