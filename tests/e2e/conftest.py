"""The e2e notebook is driven through JupyterLab by test_jupyterlab.py, not compared by nbval."""

collect_ignore_glob = ["*.ipynb"]
