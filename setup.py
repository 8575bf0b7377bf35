"""Packaging for twcdirector.

``pip install .`` installs what the library and both commands need to run; the test and lint
tools are the ``test`` extra (``requirements.txt`` installs ``-e .[test]``), so installing to
run on a Raspberry Pi pulls in no test tools.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="twcdirector",
    # One version, kept in the package (``twcdirector.__version__``, ``--version``).
    version=re.search(
        r'^__version__ = "([^"]+)"',
        Path(__file__).with_name("twcdirector").joinpath("__init__.py").read_text("utf-8"),
        re.M,
    ).group(1),
    description=(
        "Act as the controller of Tesla Gen 2 Wall Connectors on RS-485 "
        "and watch Gen 3 Wall Connectors over their local HTTP API."
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["twcdirector", "twcdirector.*"]),
    package_data={"twcdirector": ["py.typed"]},
    install_requires=[
        "pyserial-asyncio>=0.6",
        "pyee>=11",
        # 1.2: async_get_wifi_status, which the Gen 3 monitor polls (1.1 lacks it).
        "tesla-wall-connector>=1.2",
        # Imported directly by the Gen 3 monitor and simulator; 3.10 has the timeout errors
        # tesla-wall-connector 1.2 catches.
        "aiohttp>=3.10",
    ],
    entry_points={
        "console_scripts": [
            "twcdirector = twcdirector.__main__:main",
            "twcdirector-utility = twcdirector.utility:main",
        ],
    },
    extras_require={
        # The bus doctor's --plot (python3 -m twcdirector.analyze CAPTURE --plot FILE.png).
        "plot": ["matplotlib>=3.7"],
        # The MQTT bridge (python3 -m twcdirector --mqtt URL).
        "mqtt": ["aiomqtt>=2.0"],
        "test": [
            "aiomqtt>=2.0",  # the MQTT bridge's tests run against a real broker
            "pytest>=8",
            "pytest-asyncio>=0.23",
            "pytest-timeout>=2.2",
            "hypothesis>=6.100",
            "mypy==2.4.1",  # pinned: a new release may add checks CI would fail on
            "ruff==0.17.6",  # pinned: it also formats the Python in README.md
            "types-pyserial",
            "matplotlib>=3.7",  # the bus doctor's --plot test draws a real PNG
        ],
    },
    classifiers=[
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
        "Framework :: AsyncIO",
        "Typing :: Typed",
    ],
)
