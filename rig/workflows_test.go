package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mmaprig/mmaprig/kernel"
)

var workflows = []string{"../.github/workflows/nightly.yml", "../.github/workflows/test.yml"}

// Both workflows lint clean with actionlint, a tool dependency in go.mod.
func TestWorkflowsLint(t *testing.T) {
	out, err := exec.Command("go", append([]string{"tool", "actionlint"}, workflows...)...).CombinedOutput()
	if err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}

// The nightly job matrix is the kernel matrix, cell for cell.
func TestNightlyMatchesMatrix(t *testing.T) {
	b, err := os.ReadFile(filepath.FromSlash(workflows[0]))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			Strategy struct {
				Matrix struct {
					Cell []string `yaml:"cell"`
				} `yaml:"matrix"`
			} `yaml:"strategy"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	for _, trigger := range []string{"schedule", "workflow_dispatch"} {
		if _, ok := wf.On[trigger]; !ok {
			t.Errorf("the nightly workflow does not run on %s", trigger)
		}
	}
	m, err := kernel.LoadMatrix()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range m.Cells {
		want = append(want, c.Name)
	}
	got := wf.Jobs["cell"].Strategy.Matrix.Cell
	if !slices.Equal(got, want) {
		t.Errorf("nightly strategy.matrix.cell = %q\nkernel/matrix.json cells  = %q", got, want)
	}
}

// The nightly job runs its cell through the project's own action, and
// uploads the HTML report every night, whatever the verdict.
func TestNightlyUsesAction(t *testing.T) {
	b, err := os.ReadFile(filepath.FromSlash(workflows[0]))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				ID   string            `yaml:"id"`
				If   string            `yaml:"if"`
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	rig, uploadsHTML := "", false
	for _, s := range wf.Jobs["cell"].Steps {
		switch {
		case s.Uses == "./":
			rig = s.ID
			if s.With["cells"] != "${{ matrix.cell }}" {
				t.Errorf("the action runs cells %q, want ${{ matrix.cell }}", s.With["cells"])
			}
		case strings.HasPrefix(s.Uses, "actions/upload-artifact@") && rig != "" &&
			s.With["path"] == "${{ steps."+rig+".outputs.html }}":
			uploadsHTML = strings.HasPrefix(s.If, "always()")
		}
	}
	if rig == "" {
		t.Fatal("no step of the nightly job uses the action (uses: ./) with an id")
	}
	if !uploadsHTML {
		t.Errorf("the nightly job does not upload steps.%s.outputs.html under if: always()", rig)
	}
}
