"""``stepline images``: build, list, tag and remove job images."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from stepline import images
from stepline.cli._common import emit_json, fmt_time, print_table

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build_cmd(
    context: Path = typer.Argument(..., help="Folder with the Dockerfile (the build context)."),
    tag: str = typer.Option(..., "-t", "--tag", help="NAME[:TAG] or an ECR URI."),
    runtime: str = typer.Option("process", "--runtime", help="process or container."),
    file: str = typer.Option("Dockerfile", "-f", "--file", help="Dockerfile inside CONTEXT."),
    build_arg: list[str] = typer.Option([], "--build-arg", help="KEY=VALUE for an ARG."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the digest."),
) -> None:
    """Build an image from a folder with a Dockerfile."""
    args = {}
    for item in build_arg:
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"--build-arg {item!r}: expected KEY=VALUE")
        args[key] = value
    log = None if quiet else (lambda msg: print(msg, file=sys.stderr))
    image = images.build(context, tag, runtime=runtime, dockerfile=file, build_args=args, log=log)
    print(image.digest if quiet else f"built {image.ref} {image.digest} ({image.runtime})")


@app.command("pull")
def pull_cmd(
    uri: str = typer.Argument(..., help="An AWS framework image URI (or its REPOSITORY:TAG)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the digest."),
) -> None:
    """Make the local image for one of AWS's framework images ahead of time, as
    ``docker pull`` would fetch it: built from stepline's recipe, then cached."""
    from stepline.images import frameworks

    if frameworks.lookup(uri) is None:
        raise ValueError(
            f"{uri}: not one of AWS's scikit-learn, XGBoost, PyTorch or Hugging Face images "
            "that stepline can build; build your own with 'stepline images build'"
        )
    log = None if quiet else (lambda msg: print(msg, file=sys.stderr))
    image = images.ensure(uri, log=log)
    if quiet:
        print(image.digest)
        return
    print(f"{image.ref} {image.digest} ({_framework_summary(image)})")
    for note in (image.framework or {}).get("notes", []):
        print(f"note: {note}")


def _framework_summary(image: images.Image) -> str:
    """``scikit-learn 1.2.2, sagemaker-training 5.1.4``: what a framework image holds."""
    installed = (image.framework or {}).get("installed") or {}
    return ", ".join(f"{name} {version}" for name, version in sorted(installed.items()))


@app.command("ls")
def ls_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List local images (framework images with the versions actually installed)."""
    found = images.list_images()
    if json_out:
        emit_json([image.to_json() for image in found])
        return
    print_table(
        ("name", "tag", "runtime", "digest", "created", "installed"),
        (
            (i.name, i.tag, i.runtime, i.digest, fmt_time(i.created), _framework_summary(i))
            for i in found
        ),
        empty="no images",
    )


app.command("list", help="List local images (the same as ls).")(ls_cmd)


@app.command("tag")
def tag_cmd(src: str, dst: str) -> None:
    """Give image SRC the additional name DST."""
    image = images.tag(src, dst)
    print(f"tagged {image.ref} {image.digest}")


@app.command("rm")
def rm_cmd(name: str) -> None:
    """Remove an image name (the build goes when no name points at it)."""
    deleted = images.remove(name)
    print(f"untagged {name}" + "".join(f"\ndeleted {d}" for d in deleted))
