// Package channel is how the rig talks to a running guest over SSH: fresh
// keys for each run, a pinned host key, a bounded dial backoff, and
// commands whose exit status, signal, stdout and stderr come back whole.
package channel

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// Keys are one run's SSH keys.
type Keys struct {
	// HostPrivate is the guest's host key, OpenSSH PEM.
	HostPrivate []byte
	// HostPublic is pinned by the client.
	HostPublic ssh.PublicKey
	// ClientAuthorized is the client key in authorized_keys form.
	ClientAuthorized []byte
	client           ssh.Signer
}

// NewKeys makes fresh ed25519 host and client keys.
func NewKeys() (*Keys, error) {
	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(hostPriv, "mmaprig guest host key")
	if err != nil {
		return nil, err
	}
	hp, err := ssh.NewPublicKey(hostPub)
	if err != nil {
		return nil, err
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(clientPriv)
	if err != nil {
		return nil, err
	}
	return &Keys{
		HostPrivate:      pem.EncodeToMemory(block),
		HostPublic:       hp,
		ClientAuthorized: ssh.MarshalAuthorizedKey(signer.PublicKey()),
		client:           signer,
	}, nil
}

// Client is an SSH connection to the guest.
type Client struct {
	c *ssh.Client
}

// Dial connects to addr, pinning the host key, retrying with a bounded
// backoff until ctx ends: the guest said it listens, so only the first
// packets may race.
func Dial(ctx context.Context, addr string, k *Keys) (*Client, error) {
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(k.client)},
		HostKeyCallback: ssh.FixedHostKey(k.HostPublic),
		Timeout:         5 * time.Second,
	}
	wait := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			// QEMU's forward accepts at once even when the guest never
			// answers; bound the handshake too.
			conn.SetDeadline(time.Now().Add(3 * time.Second))
			sc, chans, reqs, herr := ssh.NewClientConn(conn, addr, cfg)
			if herr == nil {
				conn.SetDeadline(time.Time{})
				return &Client{ssh.NewClient(sc, chans, reqs)}, nil
			}
			conn.Close()
			err = herr
		}
		if attempt >= 12 {
			return nil, fmt.Errorf("ssh %s: %d attempts: %w", addr, attempt, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ssh %s: %w (last error: %v)", addr, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }

// Result is how a command ended.
type Result struct {
	// Exit is the exit status; -1 if a signal ended the command.
	Exit int
	// Signal names the signal that killed the command, such as "SEGV".
	Signal string
	// Stdout and Stderr are the command's output, each cut at
	// wire.MaxOutput as the guest init cuts a program's.
	Stdout []byte
	Stderr []byte
	// Truncated: some output was dropped.
	Truncated bool
}

// closeWait bounds the wait for a killed session to end.
const closeWait = 2 * time.Second

// Run runs cmd in the guest, with env (KEY=value) added to its
// environment. The error is nil whenever the command ran to an exit status
// or a signal, whatever they were; it reports a broken channel or ctx
// ending.
func (c *Client) Run(ctx context.Context, cmd string, env ...string) (Result, error) {
	return c.RunLines(ctx, cmd, nil, env...)
}

// RunLines is Run that also hands lines, if set, each stdout line as it
// arrives, before Run returns.
func (c *Client) RunLines(ctx context.Context, cmd string, lines func([]string), env ...string) (Result, error) {
	s, err := c.c.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if err := s.Setenv(k, v); err != nil {
			return Result{}, fmt.Errorf("ssh setenv %s: %w", k, err)
		}
	}
	var out, errb wire.Capped
	s.Stdout, s.Stderr = &out, &errb
	if lines != nil {
		s.Stdout = io.MultiWriter(&out, lineWriter(lines))
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Signal(ssh.SIGKILL)
		s.Close()
		// A guest that still answers ends the session at once; a frozen
		// one may never, and its output is what arrived so far.
		t := time.NewTimer(closeWait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
		return Result{Exit: -1, Stdout: out.Bytes(), Stderr: errb.Bytes(), Truncated: out.Truncated() || errb.Truncated()},
			fmt.Errorf("%q: %w", cmd, ctx.Err())
	}
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes(), Truncated: out.Truncated() || errb.Truncated()}
	var ee *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Exit, res.Signal = ee.ExitStatus(), ee.Signal()
		if res.Signal != "" {
			res.Exit = -1
		}
	default:
		return res, fmt.Errorf("%q: the channel broke: %w", cmd, err)
	}
	return res, nil
}

// lineWriter hands fn the lines written to it as they complete.
func lineWriter(fn func([]string)) io.Writer {
	var l wire.LineSplitter
	return writerFunc(func(p []byte) (int, error) {
		if lines := l.Split(p); len(lines) > 0 {
			fn(lines)
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Shell opens an interactive shell with a pty on the caller's terminal.
func (c *Client) Shell(stdin *os.File, stdout, stderr *os.File, term string, rows, cols int) error {
	s, err := c.c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	if err := s.RequestPty(term, rows, cols, ssh.TerminalModes{ssh.ECHO: 1}); err != nil {
		return err
	}
	if err := s.Shell(); err != nil {
		return err
	}
	return s.Wait()
}
