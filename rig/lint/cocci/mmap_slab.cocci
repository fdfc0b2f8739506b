// SPDX-License-Identifier: GPL-2.0
/// Find slab, vmalloc or kvmalloc memory that an mmap path hands to
/// virt_to_phys(), __pa(), virt_to_pfn() or virt_to_page(), to map it to
/// user space with remap_pfn_range() or vm_insert_page().
///
/// Slab memory (kmalloc, kzalloc, devm_kzalloc, kmem_cache_alloc, ...) must
/// not be mapped to user space: on SLUB and SLAB kernels (every
/// distribution's) vm_insert_page() refuses slab pages since 5.8, and
/// remap_pfn_range() maps them without complaint, together with whatever
/// else shares those pages.  (SLOB, gone since 6.4, hands out kmalloc() of
/// a page or more as plain pages, which vm_insert_page() accepts.)  The pfn
/// arithmetic after the sink (>> PAGE_SHIFT, / PAGE_SIZE, PHYS_PFN(),
/// page_to_pfn(), + vma->vm_pgoff) does not matter.  vmalloc memory is not in the linear
/// map, so virt_to_phys() and friends do not give its pages.  Map pages
/// from alloc_pages() or __get_free_pages(), or vmalloc_user() memory with
/// remap_vmalloc_range().  The rule also reports slab memory given to
/// vmalloc_to_page() and remap_vmalloc_range(), and plain vmalloc() memory
/// given to remap_vmalloc_range(), which refuses it.
///
/// The rule follows a pointer from its allocation to the mmap path through
/// locals, globals, struct fields (matched by struct type and field name),
/// array elements, function arguments and return values, across all the
/// files given in one run.  It does not follow control flow: a variable
/// that ever holds slab memory counts as holding it everywhere.  Nor does
/// it follow pointers passed by address (alloc(&priv->buf)).
///
/// mmap paths start at the functions stored in .mmap of a struct
/// file_operations (and the like, see roots below) or in .fault of a
/// struct vm_operations_struct, by an initializer or an assignment, and
/// take in every function of the module that they call.
///
/// Output: one line per finding, "file:line:col-colend: message", as
/// coccilib.report prints them; the position is the use in the mmap path,
/// and the message names the allocator and where it was called.
//
// Confidence: Moderate
// Options: --no-includes --include-headers

virtual report

@initialize:python@
@@
import re

# span -> key: which variable or field an expression names.  Keys are
# "L:func:name" (a local or parameter of func), "G:name" (a global),
# "F:type:field" (a struct field; type "?" when unknown) and "R:func" (what
# func returns).
keys = {}
untyped = {}
# (dst, src), each a key or a span: src's value flows into dst.
flows = []
# (dst key or span, allocator, file, line of the call)
allocs = []
# caller -> set of callees
calls = {}
# (func, index) -> parameter name
params = {}
# (func, callee, index, arg span)
args = []
# (struct, field, function): functions stored in struct fields
inits = []
# (sink, span of the argument, position of the call)
sinks = []

# Where an mmap path starts: (struct, field).
roots = {
    ("file_operations", "mmap"),
    ("proc_ops", "proc_mmap"),
    ("v4l2_file_operations", "mmap"),
    ("fb_ops", "fb_mmap"),
    ("dma_buf_ops", "mmap"),
    ("uio_info", "mmap"),
    ("snd_pcm_ops", "mmap"),
    ("kernfs_ops", "mmap"),
    ("bin_attribute", "mmap"),
    ("vm_operations_struct", "fault"),
    ("vm_operations_struct", "huge_fault"),
}

# Allocators, by the kind of memory they return.
SLAB, VMALLOC, VMALLOC_USER, KVMALLOC = "slab", "vmalloc", "vmalloc_user", "kvmalloc"
kinds = {}
for a in ("kmalloc kzalloc kcalloc kmalloc_array kmalloc_node kzalloc_node "
          "kcalloc_node kmalloc_array_node krealloc krealloc_array kmemdup "
          "kmemdup_nul kstrdup kstrndup kmem_cache_alloc kmem_cache_zalloc "
          "kmem_cache_alloc_node kmem_cache_alloc_lru devm_kmalloc devm_kzalloc "
          "devm_kcalloc devm_kmalloc_array devm_krealloc devm_kmemdup "
          "devm_kstrdup").split():
    kinds[a] = SLAB
for a in ("vmalloc vzalloc vmalloc_node vzalloc_node vmalloc_32 __vmalloc "
          "__vmalloc_node vmalloc_array vcalloc vmalloc_huge").split():
    kinds[a] = VMALLOC
for a in "vmalloc_user vmalloc_32_user".split():
    kinds[a] = VMALLOC_USER
for a in ("kvmalloc kvzalloc kvcalloc kvmalloc_array kvmalloc_node "
          "kvzalloc_node kvrealloc kvmemdup").split():
    kinds[a] = KVMALLOC

# sink -> (argument index, kinds of memory it must not be given)
ANY = {SLAB, VMALLOC, VMALLOC_USER, KVMALLOC}
sinkinfo = {
    "virt_to_phys": (0, ANY),
    "__pa": (0, ANY),
    "virt_to_pfn": (0, ANY),
    "virt_to_page": (0, ANY),
    "virt_to_head_page": (0, ANY),
    "vmalloc_to_page": (0, {SLAB, KVMALLOC}),
    "vmalloc_to_pfn": (0, {SLAB, KVMALLOC}),
    "remap_vmalloc_range": (1, {SLAB, VMALLOC, KVMALLOC}),
    "remap_vmalloc_range_partial": (2, {SLAB, VMALLOC, KVMALLOC}),
}

def span(p):
    return (p.file, p.line, p.column, p.line_end, p.column_end)

# The span of e->fld, from the positions of e and of fld.
def fspan(pe, p):
    return (pe.file, pe.line, pe.column, p.line_end, p.column_end)

def strip(t):
    return re.sub(r"\s+", " ", t.replace("const ", "").replace("volatile ", "")).strip()

// ---------------------------------------------------------------- keys

@klocal@
local idexpression x;
position p;
@@
x@p

@script:python@
x << klocal.x;
p << klocal.p;
@@
keys[span(p[0])] = "L:%s:%s" % (p[0].current_element, x)

@kglobal@
global idexpression x;
position p;
@@
x@p

@script:python@
x << kglobal.x;
p << kglobal.p;
@@
keys[span(p[0])] = "G:%s" % x

@kfield@
type T;
T *e;
identifier fld;
position pe, p;
@@
e@pe->fld@p

@script:python@
T << kfield.T;
fld << kfield.fld;
pe << kfield.pe;
p << kfield.p;
@@
keys[fspan(pe[0], p[0])] = "F:%s:%s" % (strip(T), fld)

@kfield_dot@
type T;
T e;
identifier fld;
position pe, p;
@@
e@pe.fld@p

@script:python@
T << kfield_dot.T;
fld << kfield_dot.fld;
pe << kfield_dot.pe;
p << kfield_dot.p;
@@
keys[fspan(pe[0], p[0])] = "F:%s:%s" % (strip(T), fld)

@kfield_untyped@
expression e;
identifier fld;
position pe, p;
@@
(
e@pe->fld@p
|
e@pe.fld@p
)

@script:python@
fld << kfield_untyped.fld;
pe << kfield_untyped.pe;
p << kfield_untyped.p;
@@
untyped[fspan(pe[0], p[0])] = "F:?:%s" % fld

// --------------------------------------------------------------- flows
//
// An element of an array stands for the array: L[i] = kmalloc(...) taints
// L, and L[i] is as tainted as L.  A pointer into a buffer (&E[i], E + n,
// &E->field, casts of them) stands for the buffer.

// L = f(...): an allocation, or what a function of the module returns.
@callasg disable drop_cast@
expression L, X;
identifier f;
type T;
position pl, pf;
@@
(
\(L@pl[X]\|L@pl\) = f@pf(...)
|
\(L@pl[X]\|L@pl\) = (T)f@pf(...)
)

@script:python@
f << callasg.f;
pl << callasg.pl;
pf << callasg.pf;
@@
if f in kinds:
    allocs.append((span(pl[0]), f, pf[0].file, pf[0].line))
else:
    flows.append((span(pl[0]), "R:%s" % f))

@calldecl disable drop_cast@
identifier x, f;
type T, T2;
position pl, pf;
@@
(
T x@pl = f@pf(...);
|
T x@pl = (T2)f@pf(...);
)

@script:python@
x << calldecl.x;
f << calldecl.f;
pl << calldecl.pl;
pf << calldecl.pf;
@@
dst = "L:%s:%s" % (pl[0].current_element, x)
if f in kinds:
    allocs.append((dst, f, pf[0].file, pf[0].line))
else:
    flows.append((dst, "R:%s" % f))

// L = E: E flows into L.
@copy disable drop_cast@
expression L, E, X, X2;
type T;
identifier fld;
position pl, pe;
@@
(
\(L@pl[X2]\|L@pl\) = &E@pe->fld
|
\(L@pl[X2]\|L@pl\) = &E@pe[X]
|
\(L@pl[X2]\|L@pl\) = (T)(E@pe + X)
|
\(L@pl[X2]\|L@pl\) = (T)E@pe + X
|
\(L@pl[X2]\|L@pl\) = E@pe + X
|
\(L@pl[X2]\|L@pl\) = (T)E@pe
|
\(L@pl[X2]\|L@pl\) = E@pe[X]
|
\(L@pl[X2]\|L@pl\) = E@pe
)

@script:python@
pl << copy.pl;
pe << copy.pe;
@@
flows.append((span(pl[0]), span(pe[0])))

@copydecl disable drop_cast@
identifier x;
expression E, X;
type T, T2;
identifier fld;
position pl, pe;
@@
(
T x@pl = &E@pe->fld;
|
T x@pl = &E@pe[X];
|
T x@pl = (T2)(E@pe + X);
|
T x@pl = (T2)E@pe + X;
|
T x@pl = E@pe + X;
|
T x@pl = (T2)E@pe;
|
T x@pl = E@pe[X];
|
T x@pl = E@pe;
)

@script:python@
x << copydecl.x;
pl << copydecl.pl;
pe << copydecl.pe;
@@
flows.append(("L:%s:%s" % (pl[0].current_element, x), span(pe[0])))

@ret disable drop_cast@
expression E, X;
type T;
position pe;
@@
(
return (T)E@pe;
|
return E@pe + X;
|
return E@pe;
)

@script:python@
pe << ret.pe;
@@
flows.append(("R:%s" % pe[0].current_element, span(pe[0])))

// Every call, with each argument: the call graph, arguments that flow into
// the module's own functions' parameters, and the sinks.
@callarg disable drop_cast@
identifier f;
expression list[n] es;
expression E, X;
type T;
identifier fld;
position pc, pe;
@@
(
f@pc(es, &E@pe->fld, ...)
|
f@pc(es, &E@pe[X], ...)
|
f@pc(es, (T)(E@pe + X), ...)
|
f@pc(es, (T)E@pe + X, ...)
|
f@pc(es, E@pe + X, ...)
|
f@pc(es, (T)E@pe, ...)
|
f@pc(es, E@pe[X], ...)
|
f@pc(es, E@pe, ...)
)

@script:python@
f << callarg.f;
n << callarg.n;
pc << callarg.pc;
pe << callarg.pe;
@@
args.append((pc[0].current_element, f, int(n), span(pe[0])))

// The sinks, each with its whole argument, in a rule of their own: a
// disjunction such as callarg's does not look inside an argument that its
// E + X branch matched, and so would miss virt_to_phys(buf) in
// remap_pfn_range(vma, a, (virt_to_phys(buf) >> PAGE_SHIFT) + off, ...).
// Whatever arithmetic follows the sink (>> PAGE_SHIFT, / PAGE_SIZE,
// PHYS_PFN(), page_to_pfn(), + vma->vm_pgoff) does not matter: the sink is
// where virtual memory becomes a physical address, pfn or page.
@sinkcall disable drop_cast@
identifier f =~ "^(virt_to_phys|__pa|virt_to_pfn|virt_to_page|virt_to_head_page|vmalloc_to_page|vmalloc_to_pfn|remap_vmalloc_range|remap_vmalloc_range_partial)$";
expression list[n] es;
expression E;
position pc, pe;
@@
f@pc(es, E@pe, ...)

@script:python@
f << sinkcall.f;
n << sinkcall.n;
pc << sinkcall.pc;
pe << sinkcall.pe;
@@
if sinkinfo[f][0] == int(n):
    sinks.append((f, span(pe[0]), pc[0]))

@call@
identifier f;
position pc;
@@
f@pc(...)

@script:python@
f << call.f;
pc << call.pc;
@@
calls.setdefault(pc[0].current_element, set()).add(f)

@param@
identifier f, x;
parameter list[n] ps;
type T;
@@
f(ps, T x, ...) { ... }

@script:python@
f << param.f;
n << param.n;
x << param.x;
@@
params[(f, int(n))] = x

// Handlers stored in a struct: in its initializer, or assigned later.
@fops@
identifier S, I, fld, fn;
@@
struct S I = { .fld = fn, };

@script:python@
S << fops.S;
fld << fops.fld;
fn << fops.fn;
@@
inits.append((S, fld, fn))

@fopsasg@
type T;
T e;
T *pe;
identifier fld, fn;
@@
(
e.fld = fn
|
pe->fld = fn
)

@script:python@
T << fopsasg.T;
fld << fopsasg.fld;
fn << fopsasg.fn;
@@
inits.append((re.sub(r"^struct ", "", strip(T)), fld, fn))

// -------------------------------------------------------------- report

@finalize:python@
@@
def key(k):
    if isinstance(k, str):
        return k
    return keys.get(k) or untyped.get(k)

# The variables and fields an argument names at its outermost: the
# argument itself, or in buf + off, (T *)buf or &priv->buf[i] the keyed
# spans inside it that no other keyed span inside it contains (buf, off;
# priv->buf and i, not priv).
def inside(a, b):
    return a[0] == b[0] and (a[1], a[2]) >= (b[1], b[2]) and (a[3], a[4]) <= (b[3], b[4])

def argkeys(sp):
    k = key(sp)
    if k is not None:
        return [k]
    spans = [s for s in set(keys) | set(untyped) if inside(s, sp)]
    outer = [s for s in spans if not any(o != s and inside(s, o) for o in spans)]
    return [key(s) for s in outer]

def fieldname(k):
    return k.split(":", 2)[2]

# taint: key -> {(allocator, file, line)}
taint = {}

def lookup(k):
    if k is None:
        return set()
    got = set(taint.get(k, ()))
    if k.startswith("F:"):
        t, f = k[2:].split(":", 1)
        for other, v in taint.items():
            if other.startswith("F:") and fieldname(other) == f and \
                    (t == "?" or other.startswith("F:?:")):
                got |= v
    return got

for dst, alloc, file, line in allocs:
    d = key(dst)
    if d is not None:
        taint.setdefault(d, set()).add((alloc, file, line))

edges = []
for dst, src in flows:
    d, s = key(dst), key(src)
    if d is not None and s is not None and d != s:
        edges.append((d, s))
for caller, f, n, sp in args:
    x = params.get((f, n))
    s = key(sp)
    if x is not None and s is not None:
        edges.append(("L:%s:%s" % (f, x), s))

changed = True
while changed:
    changed = False
    for d, s in edges:
        v = lookup(s)
        cur = taint.setdefault(d, set())
        if not v <= cur:
            cur |= v
            changed = True

# Functions on an mmap path, each with the handler it is reached from.
handler = {}
todo = []
for S, fld, fn in inits:
    if (S, fld) in roots and fn not in handler:
        handler[fn] = (fn, "%s.%s" % (S, fld))
        todo.append(fn)
while todo:
    fn = todo.pop()
    for callee in sorted(calls.get(fn, ())):
        if callee not in handler:
            handler[callee] = handler[fn]
            todo.append(callee)

seen = set()
for sink, sp, p in sorted(sinks, key=lambda s: (s[2].file, int(s[2].line), int(s[2].column))):
    fn = p.current_element
    if fn not in handler:
        continue
    root, via = handler[fn]
    bad = sinkinfo[sink][1]
    found = set()
    for k in argkeys(sp):
        found |= lookup(k)
    for alloc, file, line in sorted(found):
        kind = kinds[alloc]
        if kind not in bad:
            continue
        if (p.file, p.line, alloc, file, line) in seen:
            continue
        seen.add((p.file, p.line, alloc, file, line))
        if fn == root:
            where = "%s() (%s)" % (fn, via)
        else:
            where = "%s() (called from %s(), %s)" % (fn, root, via)
        if kind == SLAB:
            why = ("slab memory must not be mapped to user space: its pages "
                   "hold other objects, and go back to the allocator while "
                   "still mapped; on SLUB and SLAB kernels (every "
                   "distribution's) vm_insert_page() refuses it since 5.8. "
                   "Allocate with alloc_pages() or __get_free_pages()")
        elif kind == KVMALLOC:
            why = ("kvmalloc memory may be slab memory, which must not be "
                   "mapped to user space; allocate with alloc_pages(), or map "
                   "vmalloc_user() memory with remap_vmalloc_range()")
        elif sink.startswith("remap_vmalloc_range"):
            why = ("%s() memory lacks VM_USERMAP, so %s() refuses it; "
                   "allocate with vmalloc_user()" % (alloc, sink))
        else:
            why = ("vmalloc memory is not in the linear map, so %s() does not "
                   "give its pages; map vmalloc_user() memory with "
                   "remap_vmalloc_range()" % sink)
        print("%s:%s:%s-%s: %s() memory (allocated at %s:%s) reaches %s() in "
              "%s: %s" % (p.file, p.line, p.column, p.column_end, alloc,
                          file, line, sink, where, why))
