#!/usr/bin/env python3
"""membase.py GENDIR — rewrites wasm2c's output (afm-impl.h, afm_*.c) in place for speed.

wasm2c's loads and stores take the memory struct and read its data pointer at every access; a
store, being a byte copy, may alias that pointer, so gcc reloads it after every store. afmpeg's
runtime never moves a guest memory (lib/rt reserves the whole 8 GiB range up front and grows it in
place), so each function reads the base once into a local (`afm_mb`) that no store can change, and
every access goes through it. The accessors also drop wasm2c's empty asm that forces a load to
happen even when its value is unused: such a load would only matter for trapping out of bounds, and
bounds stay enforced for every access that does happen (each lands inside the guard-paged
reservation). bench/README.md has the numbers.

The accessor macros of afm-impl.h (scalar and SIMD) are rewritten to take the base, and every call
of one on the instance's memory becomes a call on `afm_mb`. A call left on the memory struct would
not compile (build.sh makes pointer mismatches errors), so nothing is half-rewritten.

It also hands the loading of the active data segments at instantiation (init_memories) to the host,
as afm_rt_load_segment(): a memory the host mapped from the module's copy-on-write image already
holds them, and the host skips the copy (lib/rt/image.c). Passive segments (memory.init) are
copied as before.
"""
import glob
import os
import re
import sys

GUARD = '''
#if !WASM_RT_MEMCHECK_GUARD_PAGES || WASM_RT_USE_SEGUE
#error "module/membase.py's accessors check no bounds: they need guard pages (and no segue)"
#endif
/* The active data segments, loaded at instantiation by the host (lib/rt/image.c). */
void afm_rt_load_segment(wasm_rt_memory_t* m, u64 offset, const u8* src, u32 size);
'''

# Each accessor-defining macro, and what must change in it.
MACROS = ['DEFINE_LOAD', 'DEFINE_STORE', 'DEFINE_SIMD_LOAD_FUNC', 'DEFINE_SIMD_LOAD_LANE',
          'DEFINE_SIMD_STORE', 'DEFINE_SIMD_STORE_LANE']
EDITS = [
    (re.compile(r'wasm_rt_memory_t\* mem\b'), 'u8* afm_mb'),
    (re.compile(r'MEMCHECK\(mem, addr, \w+\);'), ''),
    (re.compile(r'MEM_ADDR(?:_MEMOP)?\(mem, addr, sizeof\(\w+\)\)'), '(afm_mb + addr)'),
    (re.compile(r'(?:force_read|SIMD_FORCE_READ)\(result\);'), ''),
]


def rewrite_macro(text, name):
    m = re.search(r'^#define %s\(.*?(?<!\\)\n' % name, text, re.M | re.S)
    if not m:
        if name.startswith('DEFINE_SIMD'):  # wasm2c writes these only for a module using SIMD
            return text
        sys.exit('membase.py: no #define %s in afm-impl.h' % name)
    body = m.group(0)
    for pattern, repl in EDITS:
        body = pattern.sub(repl, body)
    if re.search(r'\bmem\b', body):
        sys.exit('membase.py: %s still uses the memory struct after rewriting:\n%s' % (name, body))
    return text[:m.start()] + body + text[m.end():]


def main():
    gen = sys.argv[1]
    impl = os.path.join(gen, 'afm-impl.h')
    with open(impl) as f:
        text = f.read()
    for name in MACROS:
        text = rewrite_macro(text, name)
    accessors = re.findall(r'^(?:%s)\((\w+),' % '|'.join(MACROS), text, re.M)
    if len(accessors) < 23:
        sys.exit('membase.py: found only %d accessors in afm-impl.h' % len(accessors))
    first = text.index('#define DEFINE_LOAD(')
    text = text[:first] + GUARD + text[first:]
    with open(impl, 'w') as f:
        f.write(text)

    segment = re.compile(r'^(\s*)LOAD_DATA\((instance->w2c_\w+), (.*)\);$')
    segments = 0
    call = re.compile(r'\b(%s)\(&instance->w2c_memory, ' % '|'.join(map(re.escape, accessors)))
    head = re.compile(r'^\S.*\(w2c_afm\* instance\b')
    functions = calls = 0
    for unit in sorted(glob.glob(os.path.join(gen, 'afm_*.c'))):
        with open(unit) as f:
            lines = f.read().split('\n')
        out = []
        i = 0
        in_init = False
        while i < len(lines):
            line = lines[i]
            if line.startswith('static void init_memories('):
                in_init = True
            elif line.startswith('}'):
                in_init = False
            elif in_init and 'LOAD_DATA(' in line:
                m = segment.match(line)
                if not m:
                    sys.exit('membase.py: cannot rewrite a data segment load: %s' % line)
                line = '%safm_rt_load_segment(&%s, %s);' % m.groups()
                segments += 1
            if head.match(line):
                # A definition's head may wrap; it ends at the line ending in "{" (a declaration
                # ends in ";").
                j = i
                while not lines[j].rstrip().endswith(('{', ';')):
                    j += 1
                out.extend(lines[i:j + 1])
                if lines[j].rstrip().endswith('{'):
                    out.append('  u8* const afm_mb = instance->w2c_memory.data;')
                    functions += 1
                i = j + 1
                continue
            new, n = call.subn(r'\1(afm_mb, ', line)
            calls += n
            out.append(new)
            i += 1
        with open(unit, 'w') as f:
            f.write('\n'.join(out))
    print('membase: %d accessors, %d functions, %d accesses, %d data segments rewritten'
          % (len(accessors), functions, calls, segments))


if __name__ == '__main__':
    main()
