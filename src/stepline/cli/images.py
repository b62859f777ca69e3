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


@app.command("ls")
def ls_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List local images."""
    found = images.list_images()
    if json_out:
        emit_json([image.to_json() for image in found])
        return
    print_table(
        ("name", "tag", "runtime", "digest", "created"),
        ((i.name, i.tag, i.runtime, i.digest, fmt_time(i.created)) for i in found),
        empty="no images",
    )


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
