package kernel

// The kinds of place a kernel comes from, as reports name them.
const (
	OriginDebianSource   = "debian-source"   // built from Debian's linux-source package
	OriginDebianPrebuilt = "debian-prebuilt" // Debian's own image, not built
	OriginTarball        = "tarball"         // built from a local tarball
	OriginURL            = "url"             // built from a downloaded, pinned tarball
	OriginTree           = "tree"            // built from a local source tree
	OriginGit            = "git"             // built from a commit of a git repository
)

// Origin says where a kernel came from, for reports: the kind of source
// and, for a source that moves (a git ref), exactly what was built.
type Origin struct {
	// Kind is one of the Origin* constants.
	Kind string
	// Commit is the commit built, for a git source.
	Commit string
}
