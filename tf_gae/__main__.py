"""`python -m tf_gae ...` is the `tf-gae` command."""

from tf_gae.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
