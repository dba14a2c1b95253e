#!/usr/bin/env python3
"""split.py GEN.c OUTDIR N — splits wasm2c's one C file into N+1 translation units.

wabt 1.0.32 writes one file (for FFmpeg ~78 MB: gcc -O2 needs 4 minutes and 4 GB on it). We cut it
so both cores work and no compiler process needs much more than ~0.5 GB:

  afm_impl.h   the preamble (macros, inline helpers), the function type table made extern, and
               every function's declaration made non-static (hidden), so units can call each other;
  afm_0.c      everything else that is not a function body: globals, data and element segments,
               instantiation, exports;
  afm_1..N.c   the function bodies, balanced by size.

Every identifier wasm2c makes up for the module's own functions and globals (w2c_*) and the type
table get an afm prefix, so they cannot clash with another wasm2c module linked into the same
program.

Memory accesses are rewritten for speed (bench/README.md has the numbers). wasm2c's loads and
stores take the memory struct and read its data pointer at every access; a store, being a byte
copy, may alias that pointer, so gcc reloads it after every store. afmpeg's runtime never moves a
guest memory (it reserves the whole 8 GiB range up front and grows in place), so each function
reads the base once into a local (`afm_mb`) that no store can change, and accesses go through it.
The loads also drop wasm2c's empty asm that forces every load to happen even when its value is
unused: such a load would only matter for trapping out of bounds, and bounds stay enforced for
every access that does happen (each lands inside the guard-paged reservation).
"""
import os
import re
import sys


# Loads and stores on a base pointer held in a local (see the module comment above).
MB_ACCESSORS = r'''
#if !WASM_RT_MEMCHECK_SIGNAL_HANDLER
#error "afm_mb accessors check no bounds: they need the guard-page reservation"
#endif
#define AFM_MB_LOAD(name, t1, t2, t3)                              \
  static inline t3 afm_mb_##name(u8* base, u64 addr) {            \
    t1 result;                                                     \
    wasm_rt_memcpy(&result, base + addr, sizeof(t1));              \
    return (t3)(t2)result;                                         \
  }
#define AFM_MB_STORE(name, t1, t2)                                 \
  static inline void afm_mb_##name(u8* base, u64 addr, t2 value) { \
    t1 wrapped = (t1)value;                                        \
    wasm_rt_memcpy(base + addr, &wrapped, sizeof(t1));             \
  }
'''


def main():
    src, outdir, nunits = sys.argv[1], sys.argv[2], int(sys.argv[3])
    base = os.path.splitext(os.path.basename(src))[0]
    with open(src) as f:
        text = f.read()
    text = re.sub(r'\bw2c_', 'afm_w2c_', text)
    text = re.sub(r'\bfunc_types\b', 'afm_func_types', text)
    lines = text.split('\n')

    # The preamble ends where the module's own state begins.
    marker = 'static bool s_module_initialized = false;'
    start = lines.index(marker)
    preamble = lines[:start]

    # Top-level items after the preamble. An item starts at column 0; its head runs to the first
    # line ending in "{" or ";" (wasm2c wraps long parameter lists); a block runs on to its
    # closing line at column 0 ("}" or "};"). Each item is kept as (head, lines).
    items = []
    i = start
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        j = i
        while not lines[j].rstrip().endswith(('{', ';')):
            j += 1
        head = ' '.join(l.strip() for l in lines[i:j + 1])
        if lines[j].rstrip().endswith('{'):
            while not lines[j].startswith('}'):
                j += 1
        items.append((head, lines[i:j + 1]))
        i = j + 1

    func_def = re.compile(r"^static (.+?\bafm_w2c_\w+\(.*\)) \{$", re.S)
    func_decl = re.compile(r'^static (.+?\bafm_w2c_\w+\(.*\));$')
    types_decl = re.compile(r'^static (u32 afm_func_types\[\d+\]);$')

    access = re.compile(r'\b((?:i32|i64|f32|f64)_(?:load|store)(?:8|16|32)?(?:_[su])?)'
                        r'\(&instance->afm_w2c_memory, ')
    accessors = []
    for m in re.finditer(r'^DEFINE_LOAD\((\w+), (\w+), (\w+), (\w+)\)$', '\n'.join(preamble),
                         re.M):
        accessors.append('AFM_MB_LOAD(%s, %s, %s, %s)' % m.groups())
    for m in re.finditer(r'^DEFINE_STORE\((\w+), (\w+), (\w+)\)$', '\n'.join(preamble), re.M):
        accessors.append('AFM_MB_STORE(%s, %s, %s)' % m.groups())
    if len(accessors) != 23:
        sys.exit('split.py: expected 14 loads and 9 stores in the preamble, found %d accessors'
                 % len(accessors))

    header_decls, unit0, bodies = [], [], []
    for head, item in items:
        m = func_def.match(head)
        if m:
            nhead = next(k for k, l in enumerate(item) if l.rstrip().endswith('{'))
            body = [access.sub(r'afm_mb_\1(afm_mb, ', l) for l in item[nhead + 1:]]
            if 'Z_afm_instance_t* instance' not in m.group(1):
                sys.exit('split.py: a function without the instance: ' + m.group(1)[:80])
            bodies.append(['HIDDEN ' + m.group(1) + ' {',
                           '  u8 *const afm_mb = instance->afm_w2c_memory.data;'] + body)
            continue
        m = func_decl.match(head)
        if m:
            header_decls.append('HIDDEN ' + m.group(1) + ';')
            continue
        m = types_decl.match(head)
        if m:
            header_decls.append('extern HIDDEN ' + m.group(1) + ';')
            unit0.append(['HIDDEN ' + m.group(1) + ';'])
            continue
        unit0.append(item)

    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, 'afm_impl.h'), 'w') as f:
        f.write('/* Generated by module/split.py from wasm2c output: do not edit. */\n')
        f.write('#define HIDDEN __attribute__((visibility("hidden")))\n')
        f.write('\n'.join(preamble) + '\n')
        f.write(MB_ACCESSORS + '\n'.join(accessors) + '\n')
        f.write('\n'.join(header_decls) + '\n')

    def write_unit(name, chunks):
        with open(os.path.join(outdir, name), 'w') as f:
            f.write('#include "afm_impl.h"\n')
            for chunk in chunks:
                f.write('\n'.join(chunk) + '\n\n')

    write_unit(base + '_0.c', unit0)
    # Balance the bodies by size: largest first, each to the lightest unit.
    units = [[] for _ in range(nunits)]
    weight = [0] * nunits
    for body in sorted(bodies, key=lambda b: -sum(len(l) for l in b)):
        k = weight.index(min(weight))
        units[k].append(body)
        weight[k] += sum(len(l) for l in body)
    for k, chunks in enumerate(units):
        write_unit('%s_%d.c' % (base, k + 1), chunks)
    # The generated header (the instance struct, for the host) gets the same renames.
    hdr = os.path.join(os.path.dirname(src), base + '.h')
    with open(hdr) as f:
        htext = re.sub(r'\bw2c_', 'afm_w2c_', f.read())
    with open(os.path.join(outdir, base + '.h'), 'w') as f:
        f.write(htext)
    print('split: %d functions into %d units, %d other items' % (len(bodies), nunits, len(unit0)))


if __name__ == '__main__':
    main()
