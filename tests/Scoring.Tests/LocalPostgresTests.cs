using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.ServiceDefaults.Postgres;
using Npgsql;

namespace HrnnPipeline.Tests.Scoring;

[Collection(PostgresCollection.Name)]
public sealed class LocalPostgresTests(PostgresFixture postgres)
{
    [Fact]
    public async Task A_stopped_cluster_starts_again_with_its_data_and_listens_on_loopback_only()
    {
        var dataDirectory = Path.Combine(postgres.Root, "own-" + Guid.NewGuid().ToString("N")[..8]);
        await using (var first = await LocalPostgres.StartAsync(dataDirectory, "keep"))
        {
            Assert.True(first.OwnsServer);
            await QueryAsync(first.ConnectionString, "create table kept (n int); insert into kept values (42)");
        }

        await using var second = await LocalPostgres.StartAsync(dataDirectory, "keep");

        Assert.True(second.OwnsServer);
        Assert.Equal(42, await QueryAsync(second.ConnectionString, "select n from kept"));
        Assert.Equal("127.0.0.1", await QueryAsync(second.ConnectionString, "show listen_addresses"));
    }

    [Fact]
    public async Task Starting_on_a_running_cluster_attaches_without_taking_ownership()
    {
        await using (var attached = await LocalPostgres.StartAsync(postgres.Server.DataDirectory, "attached"))
        {
            Assert.False(attached.OwnsServer);
            Assert.Equal(postgres.Server.Port, attached.Port);
            Assert.Equal(1, await QueryAsync(attached.ConnectionString, "select 1"));
        }

        // Disposing the attached handle must not have stopped the fixture's server.
        Assert.Equal(1, await QueryAsync(postgres.Server.ConnectionString, "select 1"));
    }

    [Fact]
    public async Task Missing_server_binaries_say_how_to_install_them()
    {
        var error = await Assert.ThrowsAsync<PipelineException>(() =>
            LocalPostgres.StartAsync(Path.Combine(postgres.Root, "never"), "x", binDirectory: "/nonexistent/bin"));

        Assert.Contains("apt-get install postgresql", error.Message);
        Assert.Contains("ConnectionStrings:postgres", error.Message);
        Assert.DoesNotContain('\n', error.Message);
        Assert.False(Directory.Exists(Path.Combine(postgres.Root, "never")));
    }

    static async Task<object?> QueryAsync(string connectionString, string sql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return await cmd.ExecuteScalarAsync();
    }
}
