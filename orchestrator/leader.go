package orchestrator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// leaderJob is what the orchestrator hands a namespace leader.
type leaderJob struct {
	Phase       protocol.Phase    `json:"phase"`
	StepTimeout protocol.Duration `json:"step_timeout"`
	// Model is the text of the model an enforce or seal phase loads.
	Model string `json:"model,omitempty"`
	Self  string `json:"self"`
	// Work is where the steps run on a workload image (nil: the guest's
	// root); the orchestrator set it up before starting the leader.
	Work *workload `json:"work,omitempty"`
}

// leaderReady is the first line a namespace leader writes on its results
// descriptor: it has started and waits for its job on standard input.
const leaderReady = "leader ready"

// leaderPool is how many namespace leaders a guest that waits for its
// plan starts before its hello, on a kernel with TSEM. They are in the
// snapshot the host saves then, so a restored scenario's TSEM phases
// skip the exec and the Go runtime's start (0.12 s each under TCG, 0.2–
// 0.3 s for the first after a restore); most scenarios have two TSEM
// phases, tsem-file-content three. A phase beyond them starts its own.
const leaderPool = 3

// leaderProc is a namespace leader process waiting for its job.
type leaderProc struct {
	cmd     *exec.Cmd
	job     io.WriteCloser
	r       *os.File
	results *bufio.Scanner
	stderr  *tail
}

// startLeader starts a namespace leader and waits until it is ready.
func (o *orchestrator) startLeader() (*leaderProc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	l := &leaderProc{cmd: exec.Command(o.self, "leader"), r: r, stderr: newTail(8 << 10)}
	l.cmd.ExtraFiles = []*os.File{w}
	l.cmd.Stdout = os.Stderr
	l.cmd.Stderr = io.MultiWriter(os.Stderr, l.stderr)
	if l.job, err = l.cmd.StdinPipe(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	err = l.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start namespace leader: %w", err)
	}
	l.results = bufio.NewScanner(r)
	l.results.Buffer(make([]byte, 1<<20), 64<<20)
	if !l.results.Scan() || l.results.Text() != leaderReady {
		l.job.Close()
		return nil, fmt.Errorf("namespace leader did not start: %s", l.end(l.cmd.Wait()))
	}
	return l, nil
}

// end describes how a leader ended without finishing its phase.
func (l *leaderProc) end(werr error) string {
	l.r.Close()
	msg := "namespace leader ended without finishing the phase"
	if werr != nil {
		msg = fmt.Sprintf("namespace leader failed (%v)", werr)
	}
	if t := strings.TrimSpace(l.stderr.String()); t != "" {
		msg += tailLines(t, 5)
	}
	return msg
}

// startLeaders fills the pool of waiting leaders (see leaderPool). When one
// cannot start it says why, and the phases start their own.
func (o *orchestrator) startLeaders() error {
	for range leaderPool {
		l, err := o.startLeader()
		if err != nil {
			return err
		}
		o.leaders = append(o.leaders, l)
	}
	return nil
}

// leader takes a waiting leader from the pool, or starts one.
func (o *orchestrator) leader() (*leaderProc, error) {
	if len(o.leaders) == 0 {
		return o.startLeader()
	}
	l := o.leaders[0]
	o.leaders = o.leaders[1:]
	return l, nil
}

// tsemPhase runs a TSEM phase through a namespace leader process and relays
// its messages. The leader is this binary in leader mode, sent its job on
// its standard input; everything it reports comes back on a pipe and goes
// to the host unchanged.
func (o *orchestrator) tsemPhase(ctx context.Context, ph protocol.Phase) error {
	phaseFailed := func(msg string) error {
		return o.out.send(protocol.Message{Kind: protocol.KindPhaseEnd, Phase: &protocol.PhaseInfo{Name: ph.Name, Error: msg}})
	}
	job := leaderJob{Phase: ph, StepTimeout: o.plan.StepTimeout, Self: o.self, Work: o.img.work}
	if t := ph.TSEM; t.Model == protocol.ModelEnforce || t.Model == protocol.ModelSeal {
		text, ok := o.exports[t.Load]
		if !ok {
			text, ok = o.plan.Files[t.Load]
		}
		if !ok {
			return phaseFailed(fmt.Sprintf("model %q is not available: the phase that exports it did not produce it", t.Load))
		}
		job.Model = text
	}
	data, err := json.Marshal(job)
	if err != nil {
		return err
	}
	l, err := o.leader()
	if err != nil {
		return phaseFailed(err.Error())
	}
	// The job goes in whole before the leader does anything else, however
	// large its model: the pipe is drained by the leader's read.
	_, werr := l.job.Write(data)
	if cerr := l.job.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = l.cmd.Process.Kill()
		return phaseFailed(fmt.Sprintf("send the namespace leader its job: %v; %s", werr, l.end(l.cmd.Wait())))
	}
	sawEnd := false
	for l.results.Scan() {
		m, err := protocol.Decode(l.results.Bytes())
		if err != nil {
			o.logf("namespace leader sent garbage: %v", err)
			continue
		}
		o.keepExport(m)
		sawEnd = sawEnd || m.Kind == protocol.KindPhaseEnd
		if err := o.out.send(m); err != nil {
			l.r.Close()
			return err
		}
	}
	msg := l.end(l.cmd.Wait())
	if !sawEnd {
		return phaseFailed(msg)
	}
	return nil
}

// Leader is the namespace-leader mode: it says it is ready, reads its job
// (leaderJob) from standard input, creates a TSEM namespace for one
// phase, sets it up (pseudonyms, model, enforce, seal), runs the steps as its
// children, and reports steps, evidence and the namespace's model files on
// file descriptor 3.
//
// After seal, every action of the leader is an event that must already be
// in the model, so the leader opens everything it needs before sealing and
// afterwards only forks the steps, reads and writes those descriptors (the
// model0 files and the kernel log are re-read with lseek and read), exactly
// as it did while learning.
func Leader(args []string) error {
	if len(args) != 0 {
		return errors.New("usage: leader (the job comes on standard input)")
	}
	results := os.NewFile(3, "results")
	if _, err := results.WriteString(leaderReady + "\n"); err != nil {
		return err
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var job leaderJob
	if err := json.Unmarshal(data, &job); err != nil {
		return fmt.Errorf("decode job: %w", err)
	}
	out := &lineSender{f: results}
	// Opened before the namespace exists, read only afterwards.
	klog := openKmsg("/dev/kmsg")
	ns, err := createNamespace(job)
	if err != nil {
		return err
	}
	defer ns.close()
	if err := ns.sealIfLoaded(); err != nil {
		return err
	}
	// --- sealed (enforce and seal phases): only forks, reads and writes from here on.
	facts, err := ns.facts()
	if err != nil {
		return err
	}
	o := &orchestrator{out: out, plan: protocol.Plan{StepTimeout: job.StepTimeout}, self: job.Self, kernelLog: klog, img: images{work: job.Work}}
	stepErr := o.steps(context.Background(), job.Phase, facts)
	return ns.report(out, stepErr)
}

// namespace is a namespace leader's TSEM namespace and the descriptors it
// opened before sealing.
type namespace struct {
	phase      protocol.Phase
	ctl        *tsem.Control
	m0         *tsem.Model0
	id         uint64
	aggregate  string
	pseudonyms []string
	// loaded is the model an enforce or seal phase starts from.
	loaded    *model.Model
	enforcing bool
}

// createNamespace moves the calling thread into a new TSEM namespace, adds
// the phase's pseudonyms, opens every model0 file and drops CAP_MAC_ADMIN
// from the bounding set so that the steps cannot change the model.
func createNamespace(job leaderJob) (ns *namespace, err error) {
	ph, t := job.Phase, job.Phase.TSEM
	fs := tsem.FS{Root: securityfs}
	if _, err := tsem.Detect(securityfs); err != nil {
		return nil, err
	}
	ns = &namespace{phase: ph, enforcing: t.Model == protocol.ModelEnforce}
	if job.Model != "" {
		if ns.loaded, err = model.Parse(strings.NewReader(job.Model)); err != nil {
			return nil, fmt.Errorf("model %s: %w", t.Load, err)
		}
	}
	if ns.ctl, err = fs.OpenControl(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ns.close()
		}
	}()
	if err := ns.ctl.Internal(tsem.NamespaceOptions{Digest: t.Digest, Cache: t.Cache, NSRef: t.NSRef}); err != nil {
		return ns, err
	}
	if ns.id, err = fs.ID(); err != nil {
		return ns, err
	}
	for _, p := range t.Pseudonyms {
		v := model.Pseudonym(p)
		if err := ns.ctl.Pseudonym(v); err != nil {
			return ns, fmt.Errorf("pseudonym %s: %w", p, err)
		}
		ns.pseudonyms = append(ns.pseudonyms, v)
	}
	if ns.aggregate, err = fs.Aggregate(); err != nil {
		return ns, err
	}
	if ns.m0, err = fs.OpenModel0(); err != nil {
		return ns, err
	}
	// The bounding set is per thread, and the steps are forked from this
	// one: they lose CAP_MAC_ADMIN at exec.
	if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_MAC_ADMIN, 0, 0, 0); err != nil {
		return ns, fmt.Errorf("drop CAP_MAC_ADMIN from the bounding set: %w", err)
	}
	return ns, nil
}

// sealIfLoaded loads the phase's model (enforcing it in an enforce phase)
// and seals the namespace; a learn phase has no model and stays open.
func (ns *namespace) sealIfLoaded() error {
	if ns.loaded == nil {
		return nil
	}
	// enforce must precede seal: the kernel refuses it afterwards.
	if err := ns.ctl.LoadModel(ns.loaded, ns.enforcing); err != nil {
		return err
	}
	if ns.loaded.Seal {
		return nil
	}
	return ns.ctl.Seal()
}

// facts returns the function that adds TSEM's record of each step to the
// step's end report: the forensic events that appeared since the previous
// call, read again from the descriptor opened before sealing.
func (ns *namespace) facts() (tsemFacts, error) {
	seen, err := ns.m0.Forensics()
	if err != nil {
		return nil, err
	}
	id := fmt.Sprint(ns.id)
	return func(rep *protocol.StepEnd) {
		rep.NamespaceID, rep.Enforcing = id, ns.enforcing
		now, err := ns.m0.Forensics()
		if err != nil || len(now) <= len(seen) {
			return
		}
		for _, rec := range now[len(seen):] {
			rep.Forensics = append(rep.Forensics, summarize(rec))
		}
		seen = now
	}, nil
}

// report sends the namespace's model files, the exported or backpropagated
// model, and the phase's end.
func (ns *namespace) report(out sender, stepErr error) error {
	ph, t := ns.phase, ns.phase.TSEM
	snap, snapErr := ns.m0.Snapshot()
	info := protocol.PhaseInfo{Name: ph.Name, NamespaceID: fmt.Sprint(ns.id), Forensics: len(snap.Forensics)}
	for _, name := range tsem.Model0Files {
		if raw, ok := snap.Raw[name]; ok {
			_ = out.send(artifact(ph.Name, ph.Name+"."+name, protocol.ArtifactKind(name), string(raw)))
		}
	}
	_ = out.send(artifact(ph.Name, ph.Name+".aggregate", protocol.ArtifactAggregate, ns.aggregate+"\n"))
	_ = out.send(artifact(ph.Name, ph.Name+".id", protocol.ArtifactNamespaceID, fmt.Sprintln(ns.id)))
	switch {
	case t.Model == protocol.ModelLearn && t.Export != "":
		m := model.FromCoefficients(ns.aggregate, snap.TrajectoryCoefficients, ns.pseudonyms)
		_ = out.send(artifact(ph.Name, t.Export, protocol.ArtifactModel, m.String()))
	case t.Backprop && ns.loaded != nil:
		n := model.Backprop(ns.loaded, snap.ForensicsCoefficients)
		_ = out.send(artifact(ph.Name, protocol.BackpropModel(ph.Name), protocol.ArtifactModel, ns.loaded.String()))
		_ = out.send(protocol.Message{Kind: protocol.KindLog, Log: fmt.Sprintf("phase %s: %d forensic coefficient(s) added to the model", ph.Name, n)})
	}
	if err := errors.Join(stepErr, snapErr); err != nil {
		info.Error = err.Error()
	}
	return out.send(protocol.Message{Kind: protocol.KindPhaseEnd, Phase: &info})
}

func (ns *namespace) close() {
	if ns.m0 != nil {
		ns.m0.Close()
	}
	if ns.ctl != nil {
		ns.ctl.Close()
	}
}

// keepExport keeps a model a namespace leader sent (gzipped when large,
// see protocol.NewArtifact) for the later phases that load it.
func (o *orchestrator) keepExport(m protocol.Message) {
	if m.Kind != protocol.KindArtifact || m.Artifact == nil || m.Artifact.Kind != protocol.ArtifactModel {
		return
	}
	text, err := m.Artifact.Text(maxModelBytes)
	if err != nil {
		o.logf("namespace leader sent a model this phase cannot keep: %v", err)
		return
	}
	o.exports[m.Artifact.Name] = text
}

// maxModelBytes bounds a model a phase keeps for a later phase, as the
// host bounds all of a scenario's artifacts.
const maxModelBytes = 64 << 20

func artifact(phase, name string, kind protocol.ArtifactKind, content string) protocol.Message {
	return protocol.Message{Kind: protocol.KindArtifact, Artifact: protocol.NewArtifact(phase, name, kind, content)}
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
