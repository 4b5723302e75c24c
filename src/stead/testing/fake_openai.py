"""``python -m stead.testing.fake_openai``: run the fake OpenAI server as a separate process.

See ``stead.testing._fake_openai`` for the options and the JSON script format.
"""

from ._fake_openai import main

if __name__ == "__main__":
    raise SystemExit(main())
