package main

// The docs: README.md is a short front page that links every page of
// docs/, each page says first what it is for, and no relative link in
// them points at a file or a heading that is not there. These tests read
// files only, so they run with -short.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// readmeMaxLines keeps the README a front page; the rest belongs in docs/.
const readmeMaxLines = 150

var (
	fenceRE   = regexp.MustCompile("^\\s*(```|~~~)")
	headingRE = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	codeRE    = regexp.MustCompile("`[^`]*`")
	linkRE    = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	schemeRE  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// markdown is what the checks need of a Markdown file.
type markdown struct {
	lines   int
	anchors map[string]bool // the headings' GitHub anchors
	links   []string        // link targets, in order, outside code
	first   []string        // the first heading, and the first line after it
}

// parseMarkdown finds the headings and links of a Markdown text, leaving
// out fenced code blocks (where "# text" is a shell comment) and inline
// code spans.
func parseMarkdown(text string) markdown {
	md := markdown{anchors: map[string]bool{}}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		md.lines++
		if fenceRE.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if len(md.first) == 1 && strings.TrimSpace(line) != "" {
			md.first = append(md.first, line)
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			if len(md.first) == 0 {
				md.first = append(md.first, line)
			}
			// GitHub numbers repeated headings: x, x-1, x-2.
			a := slug(m[2])
			if n := seen[a]; n > 0 {
				seen[a]++
				a += "-" + strconv.Itoa(n)
			} else {
				seen[a] = 1
			}
			md.anchors[a] = true
		}
		for _, m := range linkRE.FindAllStringSubmatch(codeRE.ReplaceAllString(line, ""), -1) {
			md.links = append(md.links, m[1])
		}
	}
	return md
}

// slug is GitHub's anchor for a heading: lower case, letters, digits,
// hyphens and underscores kept, spaces turned into hyphens, the rest
// (punctuation, backticks) dropped.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestParseMarkdown(t *testing.T) {
	tests := []struct {
		name, text  string
		wantAnchors []string
		wantLinks   []string
	}{
		{"headings", "# mmaprig\n## A real run\n### Ubuntu has no linux-source-6.1\n",
			[]string{"mmaprig", "a-real-run", "ubuntu-has-no-linux-source-61"}, nil},
		{"punctuation and code", "## Static checks: `rig lint`\n## The stage line says \"source relinked\"\n",
			[]string{"static-checks-rig-lint", "the-stage-line-says-source-relinked"}, nil},
		{"repeated headings", strings.Repeat("## Usage\n", 12), []string{"usage", "usage-1", "usage-2", "usage-3", "usage-4", "usage-5", "usage-6", "usage-7", "usage-8", "usage-9", "usage-10", "usage-11"}, nil},
		{"links", "see [a](docs/a.md) and [b](b.md#x \"title\"), [web](https://go.dev)\n", nil,
			[]string{"docs/a.md", "b.md#x", "https://go.dev"}},
		{"code is not markdown", "```sh\n# a comment\n[x](nowhere.md)\n```\nnot `[y](nowhere.md)`\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := parseMarkdown(tt.text)
			var anchors []string
			for a := range md.anchors {
				anchors = append(anchors, a)
			}
			slices.Sort(anchors)
			want := slices.Clone(tt.wantAnchors)
			slices.Sort(want)
			if !slices.Equal(anchors, want) {
				t.Errorf("anchors %q; want %q", anchors, want)
			}
			if !slices.Equal(md.links, tt.wantLinks) {
				t.Errorf("links %q; want %q", md.links, tt.wantLinks)
			}
		})
	}
}

// docs parses README.md and docs/*.md, by path relative to the root.
func docs(t *testing.T) (root string, pages map[string]markdown) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = map[string]markdown{}
	for _, f := range append([]string{filepath.Join(root, "README.md")}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		pages[rel] = parseMarkdown(string(b))
	}
	return root, pages
}

// Every relative link resolves to a file, and an #anchor into a Markdown
// file to one of its headings.
func TestDocsLinksResolve(t *testing.T) {
	root, pages := docs(t)
	for page, md := range pages {
		for _, link := range md.links {
			if schemeRE.MatchString(link) {
				continue // a URL: not checked offline
			}
			path, anchor, _ := strings.Cut(link, "#")
			target := page
			if path != "" {
				target = filepath.Join(filepath.Dir(page), path)
			}
			if _, err := os.Stat(filepath.Join(root, target)); err != nil {
				t.Errorf("%s: link %s: %s does not exist", page, link, target)
				continue
			}
			if anchor == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			to, ok := pages[target]
			if !ok {
				b, err := os.ReadFile(filepath.Join(root, target))
				if err != nil {
					t.Fatal(err)
				}
				to = parseMarkdown(string(b))
			}
			if !to.anchors[anchor] {
				t.Errorf("%s: link %s: %s has no heading #%s", page, link, target, anchor)
			}
		}
	}
}

// The README links every page of docs/, and stays short.
func TestReadmeMapsTheDocs(t *testing.T) {
	_, pages := docs(t)
	readme := pages["README.md"]
	linked := map[string]bool{}
	for _, link := range readme.links {
		path, _, _ := strings.Cut(link, "#")
		linked[filepath.Clean(path)] = true
	}
	for page := range pages {
		if page != "README.md" && !linked[page] {
			t.Errorf("README.md does not link %s", page)
		}
	}
	if readme.lines > readmeMaxLines {
		t.Errorf("README.md has %d lines; keep it at most %d, and move the rest to docs/", readme.lines, readmeMaxLines)
	}
}

// Each page opens with its title, then says what it is for, before any
// other heading.
func TestDocsSayWhatTheyAreFor(t *testing.T) {
	_, pages := docs(t)
	for page, md := range pages {
		switch {
		case len(md.first) == 0 || !strings.HasPrefix(md.first[0], "# "):
			t.Errorf("%s: does not open with a title (# ...)", page)
		case len(md.first) < 2 || headingRE.MatchString(md.first[1]):
			t.Errorf("%s: its title is not followed by a paragraph that says what the page is for", page)
		}
	}
}
