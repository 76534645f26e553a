"""Scale-out on Dask, behind the public ``amp_notebook.dask``: one job per module.

``hook`` (registration; never imports dask), ``route`` (each device in one
partition), ``rates`` (project rates split), ``keys`` (the API key on workers),
``worker`` (one partition's pandas upload), ``progress`` (one view of the job),
``result`` (the merged result), ``validate`` (the rules per partition), ``driver``
(the job, from the client). Importing this package imports nothing from dask.
"""
