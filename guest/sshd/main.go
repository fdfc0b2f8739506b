// Command sshd is the guest's SSH server, built on golang.org/x/crypto/ssh.
// It accepts one client key, runs each exec request directly (no shell),
// and reports the real exit status, or the signal that killed the command,
// which u-root's sshd does not. A "shell" request with a pty gets an
// interactive shell, for `rig shell`.
//
// It prints "ready" on stdout once it listens, for the guest init.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
	"mvdan.cc/sh/v3/shell"

	"github.com/mmaprig/mmaprig/internal/wire"
)

func main() {
	addr := flag.String("addr", ":22", "listen address")
	hostKey := flag.String("host-key", wire.HostKeyPath, "host private key")
	authKey := flag.String("authorized-key", wire.AuthorizedKeyPath, "the one client public key accepted")
	sh := flag.String("shell", "/bbin/gosh", "interactive shell")
	flag.Parse()
	log.SetPrefix("sshd: ")
	log.SetFlags(0)
	cfg, err := config(*hostKey, *authKey)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, cfg, *sh)
	}
}

func config(hostKeyPath, authKeyPath string) (*ssh.ServerConfig, error) {
	b, err := os.ReadFile(hostKeyPath)
	if err != nil {
		return nil, err
	}
	hk, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", hostKeyPath, err)
	}
	b, err = os.ReadFile(authKeyPath)
	if err != nil {
		return nil, err
	}
	allowed, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("authorized key %s: %w", authKeyPath, err)
	}
	want := string(allowed.Marshal())
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == want {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hk)
	return cfg, nil
}

func serve(c net.Conn, cfg *ssh.ServerConfig, sh string) {
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go serveSession(ch, creqs, sh)
	}
}

type ptyReq struct {
	Term          string
	Cols, Rows    uint32
	Width, Height uint32
	Modes         string
}

type winch struct {
	Cols, Rows    uint32
	Width, Height uint32
}

// session is one SSH session: what its requests set up before its
// command runs.
type session struct {
	ch  ssh.Channel
	sh  string
	env []string
	pr  *ptyReq
	mu  sync.Mutex
	tty *os.File
}

// serveSession answers a session's requests until its command (or shell)
// ran.
func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, sh string) {
	defer ch.Close()
	s := &session{ch: ch, sh: sh}
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) == nil {
				s.env = append(s.env, kv.Name+"="+kv.Value)
			}
			req.Reply(true, nil)
		case "pty-req":
			s.pr = new(ptyReq)
			req.Reply(ssh.Unmarshal(req.Payload, s.pr) == nil, nil)
		case "window-change":
			s.resize(req.Payload)
		case "exec", "shell":
			argv, ok := s.command(req)
			req.Reply(ok, nil)
			if ok {
				s.run(argv)
				return
			}
		default:
			req.Reply(false, nil)
		}
	}
}

// resize gives the terminal, if there is one, a window-change's size.
func (s *session) resize(payload []byte) {
	var w winch
	s.mu.Lock()
	defer s.mu.Unlock()
	if ssh.Unmarshal(payload, &w) == nil && s.tty != nil {
		pty.Setsize(s.tty, &pty.Winsize{Rows: uint16(w.Rows), Cols: uint16(w.Cols)})
	}
}

// command is what an exec request runs, split as a shell would, without
// expansions; or the shell, for a shell request.
func (s *session) command(req *ssh.Request) ([]string, bool) {
	if req.Type == "shell" {
		return []string{s.sh}, true
	}
	var p struct{ Command string }
	if err := ssh.Unmarshal(req.Payload, &p); err != nil {
		return nil, false
	}
	fields, err := shell.Fields(p.Command, func(string) string { return "" })
	if err != nil || len(fields) == 0 {
		return nil, false
	}
	return fields, true
}

// run runs the session's command, on its terminal if it asked for one,
// and reports how it ended.
func (s *session) run(argv []string) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), s.env...)
	var err error
	if s.pr != nil {
		err = s.runPTY(cmd)
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s.ch, s.ch, s.ch.Stderr()
		err = cmd.Run()
	}
	sendExit(s.ch, cmd, err)
}

func (s *session) runPTY(cmd *exec.Cmd) error {
	cmd.Env = append(cmd.Env, "TERM="+s.pr.Term)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: uint16(s.pr.Rows), Cols: uint16(s.pr.Cols)})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.tty = f
	s.mu.Unlock()
	go io.Copy(f, s.ch)
	io.Copy(s.ch, f)
	err = cmd.Wait()
	f.Close()
	return err
}

// sendExit reports how the command ended: exit-status, or exit-signal when
// a signal killed it (RFC 4254, 6.10).
func sendExit(ch ssh.Channel, cmd *exec.Cmd, err error) {
	ps := cmd.ProcessState
	if ps == nil {
		fmt.Fprintf(ch.Stderr(), "sshd: %v\n", err)
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{127}))
		return
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{signalName(ws.Signal()), ws.CoreDump(), ws.Signal().String(), ""}))
		return
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(ps.ExitCode())}))
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGABRT: "ABRT", syscall.SIGALRM: "ALRM", syscall.SIGFPE: "FPE", syscall.SIGHUP: "HUP",
	syscall.SIGILL: "ILL", syscall.SIGINT: "INT", syscall.SIGKILL: "KILL", syscall.SIGPIPE: "PIPE",
	syscall.SIGQUIT: "QUIT", syscall.SIGSEGV: "SEGV", syscall.SIGTERM: "TERM", syscall.SIGUSR1: "USR1",
	syscall.SIGUSR2: "USR2", syscall.SIGBUS: "BUS",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("%d@openssh.com", int(s))
}
