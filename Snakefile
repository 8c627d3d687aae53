# The run graph (DESIGN §7): one job per (notebook, profile), the comparison last.
#   snakemake --cores all                       # default profile
#   snakemake --cores all --config profile=smoke
#   snakemake --executor slurm --jobs 20 --config profile=paper   # on a cluster (see README)
# A notebook runs only under the profiles it has params for: params/<stem>/<profile>.yaml.
# A failed notebook fails only its own job (use --keep-going); its executed copy, with the
# error in it, stays at results/executed/<profile>/<stem>.ipynb.
# Results follow the code: each job's input "code stamp" results/executed/<profile>/<stem>.code.json
# lists the hashes of the reprolib sources it runs (reprolib/codestamp.py) and is rewritten only
# when they change, so editing a method reruns exactly the notebooks that use it. Before running,
# the jobs that will run are listed with the reason (code, notebook or params changed; no run yet).
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))
from reprolib import codestamp  # noqa: E402  (standard library only)

PROFILE = str(config.get("profile", "default"))
# The profile goes into file names and shell commands: letters, digits, '-', '_' only, and it
# must have params files (params/<notebook>/<profile>.yaml).
_PROFILES = sorted({p.stem for p in Path("params").glob("*/*.yaml")})
if not re.fullmatch(r"[A-Za-z0-9_-]+", PROFILE) or PROFILE not in _PROFILES:
    sys.exit(f"Snakefile: --config profile: expected one of {_PROFILES} (letters, digits, "
             f"'-', '_', with params/<notebook>/<profile>.yaml files), got {PROFILE!r}")
COLLECTOR = "99_comparison"
EXECUTED = "results/executed"
NOTEBOOKS = sorted(
    p.stem for p in Path("notebooks").glob("*.ipynb")
    if p.stem != COLLECTOR and Path("params", p.stem, f"{PROFILE}.yaml").exists()
)


def _stamp_all(profile, stems):
    """Write every job's code stamp (only where it changed) and say which jobs will run."""
    states = []
    for stem in stems:
        stamp = codestamp.job_stamp(f"notebooks/{stem}.ipynb", f"params/{stem}/{profile}.yaml")
        folder = Path(EXECUTED, profile)
        codestamp.write_stamp(folder / f"{stem}{codestamp.STAMP_SUFFIX}", stamp,
                              done=folder / f"{stem}{codestamp.DONE_SUFFIX}")
        if stem != COLLECTOR:
            states.append(codestamp.job_state(stem, profile, executed=EXECUTED, stamp=stamp))
    if workflow.is_main_process:
        print(codestamp.stale_report(states, profile), file=sys.stderr)


if Path("params", COLLECTOR, f"{PROFILE}.yaml").exists():
    _stamp_all(PROFILE, NOTEBOOKS + [COLLECTOR])

ruleorder: comparison > notebook


rule all:
    input:
        f"{EXECUTED}/{PROFILE}/{COLLECTOR}.done",


rule notebook:
    input:
        nb="notebooks/{stem}.ipynb",
        params="params/{stem}/{profile}.yaml",
        code=f"{EXECUTED}/{{profile}}/{{stem}}{codestamp.STAMP_SUFFIX}",
    output:
        f"{EXECUTED}/{{profile}}/{{stem}}.done",
    log:
        f"{EXECUTED}/{{profile}}/{{stem}}.ipynb",
    wildcard_constraints:
        stem="[A-Za-z0-9_]+",
        profile="[A-Za-z0-9_-]+",
    resources:
        gpu=lambda wc: 1 if wc.profile == "paper" else 0,
    shell:
        "python tools/run_notebook.py {wildcards.stem:q} {wildcards.profile:q} "
        "--params {input.params:q} --output {log:q} && cp {input.code:q} {output:q}"


rule comparison:
    input:
        expand(f"{EXECUTED}/{{{{profile}}}}/{{stem}}.done", stem=NOTEBOOKS),
        nb=f"notebooks/{COLLECTOR}.ipynb",
        params=f"params/{COLLECTOR}/{{profile}}.yaml",
        code=f"{EXECUTED}/{{profile}}/{COLLECTOR}{codestamp.STAMP_SUFFIX}",
    output:
        f"{EXECUTED}/{{profile}}/{COLLECTOR}.done",
    log:
        f"{EXECUTED}/{{profile}}/{COLLECTOR}.ipynb",
    shell:
        "python tools/run_notebook.py {COLLECTOR} {wildcards.profile:q} "
        "--params {input.params:q} --output {log:q} && cp {input.code:q} {output:q}"
