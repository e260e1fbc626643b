"""``python -m costtrail.demo.fake_provider --port N``: run the fake provider in the foreground."""

from __future__ import annotations

import argparse

import uvicorn

from costtrail.demo.fake_provider.app import create_fake_provider_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m costtrail.demo.fake_provider",
        description="A fake OpenAI/Anthropic provider on 127.0.0.1 (see the module docstring for its knobs).",
        epilog="example: python -m costtrail.demo.fake_provider --port 8799",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args(argv)
    print(
        f"fake provider on http://{args.host}:{args.port} (OpenAI base_url: http://{args.host}:{args.port}/v1)"
    )
    uvicorn.run(create_fake_provider_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
