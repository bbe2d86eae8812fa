package scenario

import (
	"gopkg.in/yaml.v3"

	"github.com/tsemlab/tsemlab/protocol"
)

// addBackpropExports adds the model each backprop phase exports
// (protocol.BackpropModel) to exports, so that a later phase can load it.
func addBackpropExports(s *Scenario, nodes []*yaml.Node, exports map[string]exportSite) {
	for i, ph := range s.Phases {
		name := protocol.BackpropModel(ph.Name)
		if _, dup := exports[name]; ph.TSEM != nil && ph.TSEM.Backprop && !dup {
			exports[name] = exportSite{index: i, line: resolve(nodes[i]).Line}
		}
	}
}
