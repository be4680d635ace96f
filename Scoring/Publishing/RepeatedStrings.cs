using System.Text;
using Apache.Arrow;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// Decodes a string column whose consecutive rows usually repeat (a user's k recommendation rows share its id),
/// allocating one string per run instead of one per row.
/// </summary>
sealed class RepeatedStrings
{
    byte[] _lastBytes = [];
    int _lastLength = -1;
    string _last = "";

    public string Get(StringArray column, int row)
    {
        var bytes = column.GetBytes(row);
        if (bytes.Length == _lastLength && bytes.SequenceEqual(_lastBytes.AsSpan(0, _lastLength)))
            return _last;
        if (_lastBytes.Length < bytes.Length) _lastBytes = new byte[Math.Max(bytes.Length, 2 * _lastBytes.Length)];
        bytes.CopyTo(_lastBytes);
        _lastLength = bytes.Length;
        _last = Encoding.UTF8.GetString(bytes);
        return _last;
    }
}
