package orchestrator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/model"
	"github.com/tsemlab/tsemlab/orchestrator/tsem"
	"github.com/tsemlab/tsemlab/protocol"
)

func init() {
	// The namespace leader creates its TSEM namespace from the main
	// thread and forks every step from it: TSEM moves only the writing
	// task, and children inherit the namespace of the thread that forks
	// them. Locking the main goroutine here also makes the Go runtime
	// start new threads from its template thread (created now, outside
	// any namespace) rather than by cloning the locked one, so the
	// runtime adds no events of its own to the model.
	runtime.LockOSThread()
}

// capMACAdmin is CAP_MAC_ADMIN, the capability that controls TSEM.
const capMACAdmin = 33

// leaderJob is what the orchestrator hands a namespace leader.
type leaderJob struct {
	Phase       protocol.Phase    `json:"phase"`
	StepTimeout protocol.Duration `json:"step_timeout"`
	// Model is the text of the model an enforce or seal phase loads.
	Model string `json:"model,omitempty"`
	Self  string `json:"self"`
}

// tsemPhase runs a TSEM phase through a namespace leader process and relays
// its messages. The leader is this binary in leader mode; everything it
// reports comes back on a pipe and goes to the host unchanged.
func (o *orchestrator) tsemPhase(ctx context.Context, ph protocol.Phase) error {
	end := func(msg string) error {
		return o.out.send(protocol.Message{Kind: protocol.KindPhaseEnd, Phase: &protocol.PhaseInfo{Name: ph.Name, Error: msg}})
	}
	job := leaderJob{Phase: ph, StepTimeout: o.plan.StepTimeout, Self: o.self}
	if t := ph.TSEM; t.Model == protocol.ModelEnforce || t.Model == protocol.ModelSeal {
		text, ok := o.exports[t.Load]
		if !ok {
			text, ok = o.plan.Files[t.Load]
		}
		if !ok {
			return end(fmt.Sprintf("model %q is not available: the phase that exports it did not produce it", t.Load))
		}
		job.Model = text
	}
	data, err := json.Marshal(job)
	if err != nil {
		return err
	}
	jobPath := filepath.Join(os.TempDir(), "tsemlab-leader-"+ph.Name+".json")
	if err := os.WriteFile(jobPath, data, 0o600); err != nil {
		return end(err.Error())
	}
	defer os.Remove(jobPath)
	r, w, err := os.Pipe()
	if err != nil {
		return end(err.Error())
	}
	defer r.Close()
	stderr := newTail(8 << 10)
	cmd := exec.Command(o.self, "leader", jobPath)
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout = os.Stderr
	cmd.Stderr = teeWriter{os.Stderr, stderr}
	if err := cmd.Start(); err != nil {
		w.Close()
		return end(fmt.Sprintf("start namespace leader: %v", err))
	}
	w.Close()
	sawEnd := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		m, err := protocol.Decode(sc.Bytes())
		if err != nil {
			o.logf("namespace leader sent garbage: %v", err)
			continue
		}
		switch {
		case m.Kind == protocol.KindArtifact && m.Artifact.Kind == protocol.ArtifactModel:
			o.exports[m.Artifact.Name] = m.Artifact.Content
		case m.Kind == protocol.KindPhaseEnd:
			sawEnd = true
		}
		if err := o.out.send(m); err != nil {
			return err
		}
	}
	werr := cmd.Wait()
	if !sawEnd {
		msg := "namespace leader ended without finishing the phase"
		if werr != nil {
			msg = fmt.Sprintf("namespace leader failed (%v)", werr)
		}
		if t := strings.TrimSpace(stderr.String()); t != "" {
			msg += tailLines(t, 5)
		}
		return end(msg)
	}
	return nil
}

// Leader is the namespace-leader mode: it creates a TSEM namespace for one
// phase, sets it up (pseudonyms, model, enforce, seal), runs the steps as its
// children, and reports steps, evidence and the namespace's model files on
// file descriptor 3.
//
// After seal, every action of the leader is an event that must already be
// in the model, so the leader opens everything it needs before sealing and
// afterwards only forks the steps, reads and writes those descriptors (the
// model0 files are re-read with lseek and read), exactly as it did while
// learning.
func Leader(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: leader JOB.json")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var job leaderJob
	if err := json.Unmarshal(data, &job); err != nil {
		return fmt.Errorf("decode job: %w", err)
	}
	out := &lineSender{f: os.NewFile(3, "results")}
	ph, t := job.Phase, job.Phase.TSEM
	fs := tsem.FS{Root: securityfs}
	if _, err := tsem.Detect(securityfs); err != nil {
		return err
	}
	ctl, err := fs.OpenControl()
	if err != nil {
		return err
	}
	defer ctl.Close()
	var loaded *model.Model
	if job.Model != "" {
		if loaded, err = model.Parse(strings.NewReader(job.Model)); err != nil {
			return fmt.Errorf("model %s: %w", t.Load, err)
		}
	}
	if err := ctl.Internal(tsem.NamespaceOptions{Digest: t.Digest, Cache: t.Cache, NSRef: t.NSRef}); err != nil {
		return err
	}
	id, err := fs.ID()
	if err != nil {
		return err
	}
	var pseudonyms []string
	for _, p := range t.Pseudonyms {
		v := model.Pseudonym(p)
		if err := ctl.Pseudonym(v); err != nil {
			return fmt.Errorf("pseudonym %s: %w", p, err)
		}
		pseudonyms = append(pseudonyms, v)
	}
	aggregate, err := fs.Aggregate()
	if err != nil {
		return err
	}
	m0, err := fs.OpenModel0()
	if err != nil {
		return err
	}
	defer m0.Close()
	// The steps must not be able to change the model: they lose
	// CAP_MAC_ADMIN at exec (the bounding set is per thread, and they are
	// forked from this one).
	if err := unix.Prctl(unix.PR_CAPBSET_DROP, capMACAdmin, 0, 0, 0); err != nil {
		return fmt.Errorf("drop CAP_MAC_ADMIN from the bounding set: %w", err)
	}
	enforcing := t.Model == protocol.ModelEnforce
	if loaded != nil {
		// enforce must precede seal: the kernel refuses it afterwards.
		if err := ctl.LoadModel(loaded, enforcing); err != nil {
			return err
		}
		if !loaded.Seal {
			if err := ctl.Seal(); err != nil {
				return err
			}
		}
	}
	// --- sealed (enforce and seal phases): only forks, reads and writes from here on.
	seen, err := m0.Forensics()
	if err != nil {
		return err
	}
	evidence := func() ([]string, bool) {
		now, err := m0.Forensics()
		if err != nil || len(now) <= len(seen) {
			return nil, enforcing
		}
		var out []string
		for _, rec := range now[len(seen):] {
			out = append(out, summarize(rec))
		}
		seen = now
		return out, enforcing
	}
	o := &orchestrator{out: out, plan: protocol.Plan{StepTimeout: job.StepTimeout}, self: job.Self}
	stepErr := o.steps(context.Background(), ph, evidence)
	snap, snapErr := m0.Snapshot()
	info := protocol.PhaseInfo{Name: ph.Name, NamespaceID: fmt.Sprint(id), Forensics: len(snap.Forensics)}
	for _, name := range tsem.Model0Files {
		if raw, ok := snap.Raw[name]; ok {
			_ = out.send(artifact(ph.Name, ph.Name+"."+name, name, string(raw)))
		}
	}
	_ = out.send(artifact(ph.Name, ph.Name+".aggregate", protocol.ArtifactAggregate, aggregate+"\n"))
	_ = out.send(artifact(ph.Name, ph.Name+".id", protocol.ArtifactNamespaceID, fmt.Sprintln(id)))
	switch {
	case t.Model == protocol.ModelLearn && t.Export != "":
		m := model.FromCoefficients(aggregate, snap.TrajectoryCoefficients, pseudonyms)
		_ = out.send(artifact(ph.Name, t.Export, protocol.ArtifactModel, m.String()))
	case t.Backprop && loaded != nil:
		n := model.Backprop(loaded, snap.ForensicsCoefficients)
		_ = out.send(artifact(ph.Name, ph.Name+".backprop.model", protocol.ArtifactModel, loaded.String()))
		_ = out.send(protocol.Message{Kind: protocol.KindLog, Log: fmt.Sprintf("phase %s: %d forensic coefficient(s) added to the model", ph.Name, n)})
	}
	if err := errors.Join(stepErr, snapErr); err != nil {
		info.Error = err.Error()
	}
	return out.send(protocol.Message{Kind: protocol.KindPhaseEnd, Phase: &info})
}

func artifact(phase, name, kind, content string) protocol.Message {
	return protocol.Message{Kind: protocol.KindArtifact, Artifact: &protocol.Artifact{Phase: phase, Name: name, Kind: kind, Content: content}}
}

// summarize makes a forensic record readable for a step's evidence.
func summarize(rec string) string {
	if e, err := event.Parse([]byte(rec)); err == nil {
		return e.Summary()
	}
	if len(rec) > 120 {
		rec = rec[:120] + "..."
	}
	return rec
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (t teeWriter) Write(p []byte) (int, error) {
	_, _ = t.a.Write(p)
	return t.b.Write(p)
}
