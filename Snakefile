# The run graph (DESIGN §7): one job per (notebook, profile), the comparison last.
#   snakemake --cores all                       # default profile
#   snakemake --cores all --config profile=smoke
#   snakemake --executor slurm --jobs 20 --config profile=paper   # on a cluster (see README)
# A notebook runs only under the profiles it has params for: params/<stem>/<profile>.yaml.
# A failed notebook fails only its own job (use --keep-going); its executed copy, with the
# error in it, stays at results/executed/<profile>/<stem>.ipynb.
import re
import sys
from pathlib import Path

PROFILE = str(config.get("profile", "default"))
# The profile goes into file names and shell commands: letters, digits, '-', '_' only, and it
# must have params files (params/<notebook>/<profile>.yaml).
_PROFILES = sorted({p.stem for p in Path("params").glob("*/*.yaml")})
if not re.fullmatch(r"[A-Za-z0-9_-]+", PROFILE) or PROFILE not in _PROFILES:
    sys.exit(f"Snakefile: --config profile: expected one of {_PROFILES} (letters, digits, "
             f"'-', '_', with params/<notebook>/<profile>.yaml files), got {PROFILE!r}")
COLLECTOR = "99_comparison"
NOTEBOOKS = sorted(
    p.stem for p in Path("notebooks").glob("*.ipynb")
    if p.stem != COLLECTOR and Path("params", p.stem, f"{PROFILE}.yaml").exists()
)

ruleorder: comparison > notebook


rule all:
    input:
        f"results/executed/{PROFILE}/{COLLECTOR}.done",


rule notebook:
    input:
        nb="notebooks/{stem}.ipynb",
        params="params/{stem}/{profile}.yaml",
    output:
        touch("results/executed/{profile}/{stem}.done"),
    log:
        "results/executed/{profile}/{stem}.ipynb",
    wildcard_constraints:
        stem="[A-Za-z0-9_]+",
        profile="[A-Za-z0-9_-]+",
    resources:
        gpu=lambda wc: 1 if wc.profile == "paper" else 0,
    shell:
        "papermill {input.nb:q} {log:q} -f {input.params:q} -p PROFILE {wildcards.profile:q} "
        "--progress-bar --log-level WARNING "
        "|| (echo notebook {wildcards.stem:q} failed under {wildcards.profile:q}: see {log:q} "
        ">&2; exit 1)"


rule comparison:
    input:
        expand("results/executed/{{profile}}/{stem}.done", stem=NOTEBOOKS),
        nb=f"notebooks/{COLLECTOR}.ipynb",
        params=f"params/{COLLECTOR}/{{profile}}.yaml",
    output:
        touch(f"results/executed/{{profile}}/{COLLECTOR}.done"),
    log:
        f"results/executed/{{profile}}/{COLLECTOR}.ipynb",
    shell:
        "papermill {input.nb:q} {log:q} -f {input.params:q} -p PROFILE {wildcards.profile:q} "
        "--log-level WARNING "
        "|| (echo comparison failed: see {log:q} >&2; exit 1)"
