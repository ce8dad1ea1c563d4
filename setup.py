from setuptools import find_packages, setup

setup(
    name="rc-keras",
    version="0.1.0",
    description=("Region-based classification (Cao & Gong, ACSAC 2017) for Keras, "
                 "with faithful Carlini-Wagner and related evasion attacks"),
    packages=find_packages(include=["rc_keras*", "cw_attacks*", "models*", "experiments*"]),
    # The data files the library reads at run time, so that a non-editable
    # `pip install .` has them: the shipped networks with their training
    # records, and the radii learned by Algorithm 1 (python -m rc_keras.radius).
    package_data={"models": ["weights/*.keras", "weights/*.json"],
                  "rc_keras": ["radii/*.json"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "cleverhans>=4.0",
        "numpy",
        "h5py",
        "matplotlib",
        "scipy",
    ],
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3"]},
)
