"""``python -m emotionkit`` runs the CLI."""

from .cli.main import cli

if __name__ == "__main__":
    cli(prog_name="emotionkit")
