from threadpoolctl import threadpool_info, threadpool_limits

from mmserve.server import limit_blas_threads


def test_the_server_runs_numpy_blas_on_one_thread():
    with threadpool_limits(limits=None, user_api="blas"):  # puts the test process's back
        limit_blas_threads()
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
