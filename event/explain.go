package event

import (
	"sort"
	"strconv"
	"strings"
)

// FieldDiff is one field in which two records differ.
type FieldDiff struct {
	// Path names the field: "event.<key>" for the header, "COE.<key>"
	// for the credentials and "<hook>.<CELL key>" for the arguments
	// ("file_open.file.path.owner").
	Path string
	// A and B are the field's values in the two records; InA and InB
	// say whether the record has the field at all.
	A, B     string
	InA, InB bool
	// Ignored says why the difference cannot matter to the model: the
	// field does not enter the event's security state coefficient. It is
	// "" for a field that does.
	Ignored string
}

// Reasons for Ignored. They follow how TSEM's internal modeling agent
// (model0, security/tsem/map.c at 0f925b5b, the revision the records in
// testdata come from) maps an event to its coefficient:
//
//	coefficient = HF(hook name ‖ p_task_id ‖ task_id ‖ COE id ‖ CELL id)
//	COE id      = HF(uid, euid, suid, gid, egid, sgid, fsuid, fsgid, capeff)
//
// so of the event header only the hook ("type"), task_id and p_task_id
// count; context, number, process (the comm), ttd, p_ttd, ts and an
// export's pid and tnum are printed but never hashed. Of an inode,
// s_uuid is hashed as zero on tmpfs (s_magic 0x1021994, also the
// initramfs root "rootfs"), where it changes every boot. Hooks that
// model0 has no mapping for (task_alloc, task_free, file_truncate, ...)
// hash their name and the zero digest in place of their arguments. Of
// task_prctl's arguments, arg3 is not hashed; of a path, its "type"
// (root, chroot, namespace) is hashed only by the hooks that describe an
// open file or a mount (file_open, file_fcntl, mmap_file, sb_mount, ...),
// not by those that describe a dentry (inode_getattr, inode_create, ...).
//
// Everything else a record prints is taken to enter the coefficient.
// That is exact for the hooks seen in the real records (file_open,
// file_fcntl, file_ioctl, inode_*, capable, socket_*, task_*), with one
// known gap: for a file created inside the namespace model0 hashes the
// directory part of the pathname, the instance and the owner, not the
// file's own name.
const (
	IgnoredHeader   = "event header: only type, task_id and p_task_id enter the coefficient"
	IgnoredCOE      = "COE: only uid, euid, suid, gid, egid, sgid, fsuid, fsgid and capeff enter the coefficient"
	IgnoredTmpfs    = "s_uuid of a tmpfs inode is hashed as zero"
	IgnoredGeneric  = "model0 maps this hook generically: its arguments are not hashed"
	IgnoredArg      = "model0 does not hash this argument of the hook"
	IgnoredPathType = "model0 does not hash the path type of a dentry"
)

// hashedHeader are the header fields that enter the coefficient.
var hashedHeader = map[string]bool{"type": true, "task_id": true, "p_task_id": true}

// headerOrder is the order of header fields in a record.
var headerOrder = []string{"pid", "tnum", "context", "number", "process", "type", "ttd", "p_ttd", "task_id", "p_task_id", "ts"}

// coeOrder lists the COE fields in record order; all enter the
// coefficient ("cap" is capeff's name in pre-2024 text records).
var coeOrder = []string{"uid", "euid", "suid", "gid", "egid", "sgid", "fsuid", "fsgid", "capeff", "cap"}

// tmpfsMagic is TMPFS_MAGIC, the s_magic of tmpfs and of the initramfs root.
const tmpfsMagic = 0x01021994

// mappedHooks are the hooks model0's get_cell_mapping has a case for;
// every other hook's CELL id is HF(hook name ‖ zero digest).
var mappedHooks = map[string]bool{}

func init() {
	for _, h := range strings.Fields(`
		netlink_send ipc_permission shm_associate shm_shmctl shm_shmat
		sem_associate sem_semctl msg_queue_associate msg_queue_msgctl
		msg_queue_msgrcv sem_semop inode_create inode_mkdir inode_rmdir
		inode_unlink syslog settime inode_link inode_symlink inode_mknod
		inode_rename inode_killpriv file_open bprm_committed_creds
		file_ioctl file_lock file_fcntl file_receive mmap_file
		unix_stream_connect unix_may_send socket_socketpair socket_sendmsg
		socket_recvmsg socket_getsockname socket_getpeername
		tun_dev_attach_queue socket_create socket_connect socket_bind
		socket_accept socket_listen socket_shutdown socket_setsockopt
		kernel_module_request kernel_load_data kernel_read_file task_kill
		ptrace_access_check ptrace_traceme capget capset capable
		task_setpgid task_getpgid task_getsid task_getioprio
		task_setscheduler task_getscheduler task_setnice task_setioprio
		task_prlimit task_setrlimit task_prctl inode_getattr inode_setattr
		inode_setxattr inode_getxattr inode_removexattr inode_listxattr
		key_alloc key_permission sb_mount sb_umount sb_remount sb_statfs
		sb_pivotroot move_mount quotactl quota_on bpf bpf_map bpf_prog`) {
		mappedHooks[h] = true
	}
}

// unhashedArgs are CELL keys, by hook, that a mapped hook prints but
// does not hash.
var unhashedArgs = map[string]map[string]bool{
	"task_prctl": {"arg3": true},
}

// pathTypeHooks are the hooks whose paths model0 hashes with add_path,
// type included; the others hash a path with add_dentry, which leaves
// the type out.
var pathTypeHooks = map[string]bool{
	"file_open": true, "bprm_committed_creds": true, "file_ioctl": true, "file_lock": true,
	"file_fcntl": true, "file_receive": true, "mmap_file": true, "kernel_read_file": true,
	"sb_mount": true, "sb_pivotroot": true, "move_mount": true,
}

// Diff returns the fields in which b differs from a: header fields
// first, then credentials, then the hook's arguments, each in record
// order. A field present in only one record is a difference. Each
// FieldDiff says whether the field enters the coefficient (see Ignored).
// Records of different hooks differ in "event.type" and in every
// argument.
func Diff(a, b *Event) []FieldDiff {
	var out []FieldDiff
	add := func(path string, av, bv string, inA, inB bool, ignored string) {
		if inA == inB && av == bv {
			return
		}
		out = append(out, FieldDiff{Path: path, A: av, B: bv, InA: inA, InB: inB, Ignored: ignored})
	}

	for _, k := range mergeKeys(ordered(a.Header, headerOrder), ordered(b.Header, headerOrder)) {
		av, inA := a.Header[k]
		bv, inB := b.Header[k]
		why := ""
		if !hashedHeader[k] {
			why = IgnoredHeader
		}
		add("event."+k, av, bv, inA, inB, why)
	}
	hashedCOE := map[string]bool{}
	for _, k := range coeOrder {
		hashedCOE[k] = true
	}
	for _, k := range mergeKeys(ordered(a.COE, coeOrder), ordered(b.COE, coeOrder)) {
		av, inA := a.COE[k]
		bv, inB := b.COE[k]
		why := ""
		if !hashedCOE[k] {
			why = IgnoredCOE
		}
		add("COE."+k, av, bv, inA, inB, why)
	}
	if a.Hook == b.Hook {
		for _, k := range mergeKeys(a.cellOrder, b.cellOrder) {
			av, inA := a.CELL[k]
			bv, inB := b.CELL[k]
			add(a.Hook+"."+k, av, bv, inA, inB, cellIgnored(a, b, k))
		}
		return out
	}
	for _, k := range a.cellOrder {
		add(a.Hook+"."+k, a.CELL[k], "", true, false, cellIgnored(a, a, k))
	}
	for _, k := range b.cellOrder {
		add(b.Hook+"."+k, "", b.CELL[k], false, true, cellIgnored(b, b, k))
	}
	return out
}

// cellIgnored says why CELL key k of a and b (records of one hook) does
// not enter the coefficient, or "" when it does.
func cellIgnored(a, b *Event, k string) string {
	if !mappedHooks[a.Hook] {
		return IgnoredGeneric
	}
	if unhashedArgs[a.Hook][k] {
		return IgnoredArg
	}
	if dir, ok := strings.CutSuffix(k, "type"); ok && (dir == "" || strings.HasSuffix(dir, ".")) && !pathTypeHooks[a.Hook] {
		_, inA := a.CELL[dir+"pathname"]
		_, inB := b.CELL[dir+"pathname"]
		if inA || inB {
			return IgnoredPathType
		}
	}
	if k == "s_uuid" || strings.HasSuffix(k, ".s_uuid") {
		magic := strings.TrimSuffix(k, "s_uuid") + "s_magic"
		if isTmpfs(a.CELL[magic]) && isTmpfs(b.CELL[magic]) {
			return IgnoredTmpfs
		}
	}
	return ""
}

func isTmpfs(magic string) bool {
	n, err := strconv.ParseUint(magic, 0, 64)
	return err == nil && n == tmpfsMagic
}

// ordered returns the keys of m: those of order first, in that order,
// then the rest sorted.
func ordered(m map[string]string, order []string) []string {
	var out []string
	known := map[string]bool{}
	for _, k := range order {
		known[k] = true
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	var rest []string
	for k := range m {
		if !known[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// mergeKeys returns the keys of a in order, with each key of b that a
// lacks placed after the key that precedes it in b.
func mergeKeys(a, b []string) []string {
	out := append([]string(nil), a...)
	in := map[string]bool{}
	for _, k := range a {
		in[k] = true
	}
	pos := 0 // where the next key of b goes
	for _, k := range b {
		if in[k] {
			for i, o := range out {
				if o == k {
					pos = i + 1
					break
				}
			}
			continue
		}
		out = append(out[:pos], append([]string{k}, out[pos:]...)...)
		in[k] = true
		pos++
	}
	return out
}

// Counted returns the differences that enter the coefficient.
func Counted(diffs []FieldDiff) []FieldDiff {
	var out []FieldDiff
	for _, d := range diffs {
		if d.Ignored == "" {
			out = append(out, d)
		}
	}
	return out
}

// Match is the record of a model nearest a given record.
type Match struct {
	// Index is the position of Event in the list searched.
	Index int
	Event *Event
	// SamePathname is true when both records name the same file (see
	// Fields' "pathname"); SameProcess when their comm is the same.
	SamePathname, SameProcess bool
	// Diffs is Diff(Event, the given record).
	Diffs []FieldDiff
	// Ties counts the other records exactly as near; the first of them
	// in list order is Event.
	Ties int
}

// Nearest returns the record of model nearest e, and false when model
// has no record of e's hook. Nearest means, in this order: the same
// hook; the same pathname, when e names a file; the same process (comm);
// the fewest differing fields that enter the coefficient; the fewest
// differing fields at all; the earliest in model. Aggregate and log
// records are never candidates.
func Nearest(e *Event, model []*Event) (Match, bool) {
	path, hasPath := e.fields["pathname"]
	var best Match
	var bestScore score
	found := false
	for i, m := range model {
		if m.Kind != KindEvent && m.Kind != KindAsync || m.Hook != e.Hook {
			continue
		}
		mp, ok := m.fields["pathname"]
		samePath := hasPath && ok && mp == path
		sameProc := m.Process() == e.Process()
		diffs := Diff(m, e)
		s := score{boolRank(samePath), boolRank(sameProc), len(Counted(diffs)), len(diffs)}
		switch {
		case !found || s.less(bestScore):
			best = Match{Index: i, Event: m, SamePathname: samePath, SameProcess: sameProc, Diffs: diffs}
			bestScore, found = s, true
		case s == bestScore:
			best.Ties++
		}
	}
	return best, found
}

// score ranks a candidate; lower is nearer, field by field.
type score struct{ path, proc, counted, all int }

func boolRank(b bool) int {
	if b {
		return 0
	}
	return 1
}

func (s score) less(o score) bool {
	if s.path != o.path {
		return s.path < o.path
	}
	if s.proc != o.proc {
		return s.proc < o.proc
	}
	if s.counted != o.counted {
		return s.counted < o.counted
	}
	return s.all < o.all
}
