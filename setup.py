from setuptools import find_packages, setup

setup(
    name="rc-keras",
    version="0.1.0",
    description=("Region-based classification (Cao & Gong, ACSAC 2017) for Keras, "
                 "with faithful Carlini-Wagner and related evasion attacks"),
    packages=find_packages(include=["rc_keras*", "cw_attacks*", "models*", "experiments*"]),
    package_data={"models": ["weights/*.keras", "weights/*.json"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "cleverhans>=4.0",
        "numpy",
        "h5py",
        "matplotlib",
    ],
    extras_require={"test": ["pytest>=7"]},
)
