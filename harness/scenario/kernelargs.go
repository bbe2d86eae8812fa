package scenario

import "strings"

// kernelArgs decodes the scenario's kernel_args, if any: a list of kernel
// command-line arguments, one word each ([lsm=capability, loglevel=7]).
func (d *decoder) kernelArgs(m map[string]pair) []string {
	p, ok := m["kernel_args"]
	if !ok {
		return nil
	}
	var out []string
	for _, it := range d.strItems("kernel_args", p.val) {
		switch {
		case it.val == "":
			d.errorf(it.node, "an item of \"kernel_args\" is empty; remove it")
		case strings.ContainsAny(it.val, " \t\r\n"):
			d.errorf(it.node, "kernel argument %q contains white space; give each argument as its own item, like kernel_args: [lsm=capability, loglevel=7]", it.val)
		default:
			out = append(out, it.val)
		}
	}
	return out
}
